"""Waiting costs nothing: 20 rolls queued at once on a two-process worker, against the same rolls one at a time.

Each roll replaces a sandbox component's instances one batch at a time; every batch warms up (2 s) and
then passes the health gate. The engine never sleeps in a worker: a waiting roll gives its process back
and is woken by a Celery countdown message. So 20 rolls queued at once on a worker with two prefork
processes should take about as long as one roll, not 20 rolls' time divided by two (what a worker that
held a process while waiting could do at best).

One run, against a real worker (`celery worker --concurrency=2`, prefork) on Redis and PostgreSQL:

1. one roll to warm the worker up (not timed);
2. concurrent: the rolls queued together; the time from the first queued to the last finished;
3. one at a time: the same number of fresh components rolled, each queued when the previous finished;
4. from the worker's log: how many turns (first runs and wake-ups) each phase took, and how long the
   pool's processes were busy in them against their capacity (processes x the phase's wall time);
5. with the worker stopped, one more roll run turn by turn in this process: SQL statements and ms per turn.

Needs PostgreSQL and Redis; the database is migrated and its bench-roll components replaced, and the
Redis database is flushed (use one of your own). From the project root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/estate_bench_h3 REDIS_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python bench/bench_rolls.py            # 20 rolls of 3 instances, 2 s warm-ups
    ... bench/bench_rolls.py --small                     # 8 rolls of 2 instances, 1 s warm-ups (CI, < 1 min)

Prints a Markdown section; `--write` puts it in bench/RESULTS.md in place of the previous one. Exits 1
when a roll does not succeed or the concurrent rolls take more than half the one-at-a-time total.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "estate.settings")
os.environ.setdefault("DEBUG", "true")
if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
    sys.exit("Set DATABASE_URL=postgres://... and REDIS_URL=redis://... (a real worker needs both).")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from estate.inventory.choices import Category, Health, InstanceState, Mode, Provider  # noqa: E402
from estate.inventory.models import Component, Environment, Image, Instance  # noqa: E402
from estate.operations import services  # noqa: E402
from estate.operations.choices import FINISHED_STATES, OperationKind, OperationState  # noqa: E402
from estate.operations.models import Operation  # noqa: E402

PREFIX = "bench-roll-"
RESULTS = ROOT / "bench" / "RESULTS.md"
HEADING = "## Operations: concurrent rolls on a two-process worker"
# Celery's trace line for every task that ran: "Task <name>[<id>] succeeded in 0.0123s: None".
TURN = re.compile(r"Task estate\.operations\.tasks\.run_operation\[[^\]]+\] succeeded in ([0-9.e-]+)s")


@dataclass
class Phase:
    name: str
    ops: list[Operation]
    wall: float  # first queued to last finished (the database's timestamps)
    turns: int = 0  # run_operation tasks the worker ran: one first turn per roll, the rest wake-ups
    busy: float = 0.0  # seconds the pool's processes spent in those tasks

    @property
    def succeeded(self) -> int:
        return sum(1 for op in self.ops if op.state == OperationState.SUCCEEDED)

    def roll_seconds(self) -> list[float]:
        return [(op.finished_at - op.created_at).total_seconds() for op in self.ops]


# --- the estate ---------------------------------------------------------------------------------


def make_component(slug: str, instances: int) -> Component:
    """A sandbox service whose instances run image 1 while image 2 is current: a roll replaces them all."""
    env, _ = Environment.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    comp = Component.objects.create(
        name=slug,
        slug=slug,
        environment=env,
        category=Category.SERVICE,
        mode=Mode.IMMUTABLE,
        provider=Provider.SANDBOX,
        desired_instances=instances,
        heartbeat_period_seconds=30,
    )
    old = Image.objects.create(component=comp, version="1", reference=f"sandbox://{slug}/1")
    comp.current_image = Image.objects.create(component=comp, version="2", reference=f"sandbox://{slug}/2")
    comp.save()
    Instance.objects.bulk_create(
        Instance(
            component=comp, external_id=f"{slug}-{n}", image=old, state=InstanceState.RUNNING, health=Health.HEALTHY
        )
        for n in range(instances)
    )
    return comp


def components(tag: str, count: int, instances: int) -> list[Component]:
    return [make_component(f"{PREFIX}{tag}-{n}", instances) for n in range(count)]


# --- the worker ---------------------------------------------------------------------------------


def start_worker(log: Path, concurrency: int) -> subprocess.Popen:
    """A prefork worker as production runs it (operations settings at their defaults unless set in the
    environment), logging every task at INFO so its turns can be counted."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "estate",
            "worker",
            f"--concurrency={concurrency}",
            "-n",
            "bench-rolls@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "INFO",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def worker_turns(log: Path, start: int) -> tuple[int, float, int]:
    """Turns run and seconds busy in the log after byte `start`; and the log's end."""
    text = log.read_bytes()
    durations = [float(m) for m in TURN.findall(text[start:].decode(errors="replace"))]
    return len(durations), sum(durations), len(text)


# --- the rolls ----------------------------------------------------------------------------------


def start_roll(component: Component, params: dict) -> int:
    return services.operation_start(component=component, kind=OperationKind.ROLL_COMPONENT, params=params).pk


def wait_finished(ids: list[int], timeout: float) -> list[Operation]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Operation.objects.filter(pk__in=ids, state__in=FINISHED_STATES).count() == len(ids):
            ops = {op.pk: op for op in Operation.objects.filter(pk__in=ids)}
            return [ops[pk] for pk in ids]
        time.sleep(0.05)
    left = Operation.objects.filter(pk__in=ids).exclude(state__in=FINISHED_STATES).values_list("pk", "state")
    raise SystemExit(f"rolls not finished within {timeout:.0f} s: {list(left)}")


def span(ops: list[Operation]) -> float:
    return (max(op.finished_at for op in ops) - min(op.created_at for op in ops)).total_seconds()


def run_concurrent(comps: list[Component], params: dict, timeout: float) -> Phase:
    ids = [start_roll(c, params) for c in comps]
    ops = wait_finished(ids, timeout)
    return Phase("all queued at once", ops, span(ops))


def run_one_at_a_time(comps: list[Component], params: dict, timeout: float) -> Phase:
    ops = [wait_finished([start_roll(c, params)], timeout)[0] for c in comps]
    return Phase("one at a time", ops, span(ops))


def turns_in_process(params: dict, instances: int, timeout: float) -> list[tuple[int, float]]:
    """One more roll, run turn by turn in this process with the worker stopped: (SQL statements, ms) per
    turn. The statement count does not depend on the machine's load, the times do."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from estate.operations import engine

    pk = start_roll(make_component(f"{PREFIX}turns", instances), params)  # its message stays in Redis, unread
    turns = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        op = Operation.objects.get(pk=pk)
        if op.state in FINISHED_STATES:
            return turns
        if op.lease_expires_at:  # waiting: sleep here until its wake-up, as its countdown message would
            time.sleep(max(0.0, (op.lease_expires_at - timezone.now()).total_seconds()) + 0.01)
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            engine.execute(pk)
        turns.append((len(queries.captured_queries), 1000 * (time.perf_counter() - started)))
    raise SystemExit(f"the in-process roll did not finish within {timeout:.0f} s")


def measured(log: Path, run, *args) -> Phase:
    _, _, start = worker_turns(log, 0)
    phase = run(*args)
    time.sleep(0.5)  # the last turn's "succeeded" line is written just after the row is finished
    phase.turns, phase.busy, _ = worker_turns(log, start)
    return phase


# --- the report ---------------------------------------------------------------------------------


def revision() -> str:
    """The code measured: HEAD, and whether the tree had changes (others may be editing it)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "estate"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return (head.stdout.strip() or "unknown") + (" with uncommitted changes under estate/" if dirty.stdout else "")


def phase_row(phase: Phase, concurrency: int) -> str:
    capacity = concurrency * phase.wall
    per_turn = 1000 * phase.busy / phase.turns if phase.turns else 0.0
    return (
        f"| {phase.name} | {phase.succeeded} of {len(phase.ops)} | {phase.wall:.1f} | "
        f"{statistics.median(phase.roll_seconds()):.1f} | {phase.turns} | {phase.turns - len(phase.ops)} | "
        f"{per_turn:.0f} | {phase.busy:.1f} | {100 * phase.busy / capacity:.0f} % |"
    )


def reading(args, concurrent: Phase, sequential: Phase) -> str:
    """What the figures say, worded from the figures (a busy pool is said to be busy)."""
    batches = -(-args.instances // args.batch_size)
    held = args.rolls * batches * args.warmup / args.concurrency
    share = concurrent.busy / (args.concurrency * concurrent.wall)
    text = (
        f"All at once / one at a time = **{concurrent.wall / sequential.wall:.2f}** ({concurrent.wall:.1f} s against "
        f"{sequential.wall:.1f} s). A worker that held a process through each wait could run at most "
        f"{args.concurrency} rolls at a time, at least {held:.0f} s for these {args.rolls} (their warm-ups alone). "
        "Busy is the time the pool's processes spent inside `run_operation` (Celery's own figure per task, summed "
        "from the worker's log); capacity is the processes times the total. One at a time, the worker was idle "
        f"{100 - 100 * sequential.busy / (args.concurrency * sequential.wall):.0f} % of the time: a roll is mostly "
        "waiting, and its waits hold no process."
    )
    if share > 0.8:
        text += (
            f" All at once, the pool was busy {100 * share:.0f} % of the time: {concurrent.turns} turns of "
            f"{1000 * concurrent.busy / concurrent.turns:.0f} ms each are {concurrent.busy:.0f} s of work, "
            f"{concurrent.busy / args.concurrency:.0f} s on {args.concurrency} processes, so that total is set by "
            "the turns' own work (tens of SQL statements each, below, with Python and PostgreSQL sharing the "
            "CPUs), not by the waits; more processes or workers would shorten it, more rolls lengthen it in "
            "proportion to their turns."
        )
    return text


def report(args, concurrent: Phase, sequential: Phase, turns: list, load: tuple[float, float], command: str) -> str:
    batches = -(-args.instances // args.batch_size)
    return "\n".join(
        [
            HEADING,
            "",
            f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `bench/bench_rolls.py` on {os.cpu_count()} CPUs shared "
            f"with other work (1-minute load average {load[0]:.1f} before, {load[1]:.1f} after); PostgreSQL, Redis, "
            f"`celery worker --concurrency={args.concurrency}` (prefork), operations settings at their defaults; "
            f"code {revision()}. Command:",
            "",
            "```",
            command,
            "```",
            "",
            f"{args.rolls} sandbox components of {args.instances} instances each, rolled in batches of "
            f"{args.batch_size}: every batch warms up for {args.warmup:g} s, then passes the health gate "
            f"({batches} warm-ups per roll, so no roll takes less than {batches * args.warmup:g} s). Fresh "
            "components for each phase; one roll before them warms the worker up.",
            "",
            "| rolls | succeeded | total s | median s per roll | worker turns | of which wake-ups | ms per turn | "
            "busy s | busy / capacity |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            phase_row(concurrent, args.concurrency),
            phase_row(sequential, args.concurrency),
            "",
            reading(args, concurrent, sequential),
            "",
            f"What a turn costs: one more roll of the same shape, run turn by turn in the bench's own process "
            f"with the worker stopped, took {len(turns)} turns issuing "
            f"{', '.join(str(q) for q, _ in turns)} SQL statements ({sum(q for q, _ in turns)} in all, "
            f"{sum(q for q, _ in turns) / args.instances:.0f} per replaced instance) in "
            f"{', '.join(f'{ms:.0f}' for _, ms in turns)} ms.",
        ]
    )


def write_section(section: str, path: Path = RESULTS) -> None:
    """Replace this bench's section of RESULTS.md (up to the next ## heading), or append it."""
    text = path.read_text() if path.exists() else ""
    start = text.find(HEADING)
    if start < 0:
        path.write_text(text.rstrip("\n") + "\n\n" + section + "\n")
        return
    end = text.find("\n## ", start + len(HEADING))
    rest = text[end + 1 :] if end >= 0 else ""
    path.write_text(text[:start] + section + "\n" + ("\n" + rest if rest else ""))


# --- main ---------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="8 rolls of 2 instances, 1 s warm-ups (under a minute)")
    parser.add_argument("--rolls", type=int, default=20)
    parser.add_argument("--instances", type=int, default=3, help="instances per component")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per batch")
    parser.add_argument("--concurrency", type=int, default=2, help="the worker's prefork processes")
    parser.add_argument("--write", action="store_true", help="put the section in bench/RESULTS.md")
    args = parser.parse_args()
    if args.small:
        args.rolls, args.instances, args.warmup = 8, 2, 1.0
    return args


def main() -> int:
    args = parse_args()
    command = "DATABASE_URL=... REDIS_URL=... .venv/bin/python bench/bench_rolls.py " + " ".join(sys.argv[1:])
    call_command("migrate", verbosity=0)
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    Component.objects.filter(slug__startswith=PREFIX).delete()
    params = {"batch_size": args.batch_size, "warmup_seconds": args.warmup, "health_timeout_seconds": 120}
    timeout = 60 + 3 * args.rolls * args.instances * (args.warmup + 1)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-rolls-") as tmp:
        log = Path(tmp) / "worker.log"
        worker = start_worker(log, args.concurrency)
        try:
            wait_finished([start_roll(make_component(f"{PREFIX}warm", 1), params)], timeout)
            concurrent = measured(log, run_concurrent, components("c", args.rolls, args.instances), params, timeout)
            one_by_one = components("s", args.rolls, args.instances)
            sequential = measured(log, run_one_at_a_time, one_by_one, params, timeout)
        finally:
            stop_worker(worker)
    load_after = os.getloadavg()[0]
    turns = turns_in_process(params, args.instances, timeout)
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()  # the in-process roll's messages, never read
    section = report(args, concurrent, sequential, turns, (load_before, load_after), command.strip())
    print(section)
    if args.write:
        write_section(section)
    failed = [op for op in concurrent.ops + sequential.ops if op.state != OperationState.SUCCEEDED]
    for op in failed:
        print(f"operation {op.pk}: {op.state} {op.error}", file=sys.stderr)
    return 1 if failed or concurrent.wall > sequential.wall / 2 else 0


if __name__ == "__main__":
    sys.exit(main())
