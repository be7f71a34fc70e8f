from __future__ import annotations

import os
import signal
import time

from django.core.management.base import BaseCommand

from estate.telemetry.demo_shipper import DemoShipper, demo_token


class Command(BaseCommand):
    help = (
        "Keep the demo alive: every few seconds, send heartbeats and metrics for each live demo instance "
        "through Estate's OTLP/HTTP endpoint (and one sshd log line, once). Ctrl-C stops it."
    )

    def add_arguments(self, parser):
        port = os.environ.get("PORT", "8000")
        parser.add_argument("--url", default=f"http://127.0.0.1:{port}", help="Estate's address.")
        parser.add_argument("--interval", type=float, default=5.0, help="Seconds between cycles.")
        parser.add_argument("--token", default=os.environ.get("ESTATE_INGEST_TOKEN", ""),
                            help="An ingest token; default: a fresh estate-wide 'demo-shipper' token.")  # fmt: skip
        parser.add_argument("--cycles", type=int, default=0, help="Stop after this many cycles (0: never).")
        parser.add_argument("--ssh-after", type=float, default=30.0, help="Seconds before the one sshd log line.")

    def handle(self, *args, url, interval, token, cycles, ssh_after, **options):
        # scripts/run stops its children with TERM (Ctrl-C is ignored in its supervised loops): stop at once.
        signal.signal(signal.SIGTERM, _interrupt)
        shipper = DemoShipper(url=url, token=token or demo_token(), ssh_after_seconds=ssh_after)
        self.stderr.write(f"Demo shipper: sending to {url}/v1/metrics every {interval:g} s.")
        done = 0
        try:
            while not cycles or done < cycles:
                started = time.monotonic()
                self._one(shipper)
                done += 1
                time.sleep(max(0.0, interval - (time.monotonic() - started)))
        except KeyboardInterrupt:
            pass
        finally:
            shipper.shutdown()

    def _one(self, shipper: DemoShipper) -> None:
        try:
            report = shipper.cycle()
        except Exception as error:  # Estate restarting, the database busy: try again next cycle
            self.stderr.write(f"Demo shipper: cycle failed ({error.__class__.__name__}: {error}); retrying.")
            return
        if not report.ok:
            self.stderr.write("Demo shipper: the metrics export was not accepted; retrying next cycle.")
        if report.ssh_sent_to:
            self.stderr.write(f"Demo shipper: logged an sshd login on {report.ssh_sent_to} (a log rule taints it).")


def _interrupt(*_) -> None:
    raise KeyboardInterrupt
