"""The analysis gate end to end: a real Celery worker on Redis, a real Prometheus scraping an exporter the
test controls. The first batch bakes while the exporter says all is well; then it says otherwise, the
second batch's bake fails on the PromQL condition, and every batch goes back to the previous image."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from estate.inventory.choices import InstanceState
from estate.inventory.models import Image, Instance
from estate.operations import services
from estate.operations.choices import OperationKind, OperationState, ReplacementState
from estate.operations.models import Operation, Replacement
from tests.operations.conftest import make_component
from tests.operations.test_worker import clean_queue, finished, wait_for, workers  # noqa: F401 - fixtures
from tests.prometheus import query, running_prometheus, wait

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class Exporter:
    """One gauge in Prometheus' text format, at a value the test sets."""

    def __init__(self):
        self.value = 0.0
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = f"# TYPE checkout_errors_ratio gauge\ncheckout_errors_ratio {exporter.value}\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.target = f"127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def exporter():
    served = Exporter()
    yield served
    served.server.shutdown()


def test_a_failing_promql_condition_on_a_real_prometheus_rolls_every_batch_back(
    workers,  # noqa: F811 - the fixture imported above
    exporter,
    tmp_path,
    monkeypatch,
):
    with running_prometheus(tmp_path, {"checkout": exporter.target}) as prometheus:
        wait(lambda: query(prometheus, "checkout_errors_ratio"), 30, "a first scrape of the exporter")
        monkeypatch.setenv("PROMETHEUS_URL", prometheus)
        monkeypatch.setenv("OPERATIONS_ANALYSIS_INTERVAL_SECONDS", "0.3")
        workers("w1", pool=("--concurrency=1",))
        component = make_component(instances=3)
        previous = Image.objects.get(component=component, version="1.0.0")
        op = services.operation_start(
            component=component,
            kind=OperationKind.ROLL_COMPONENT,
            params={
                "batch_size": 1,
                "warmup_seconds": 0.2,
                "bake_seconds": 4,
                "rollback": True,
                "analysis_queries": [{"query": 'max(checkout_errors_ratio{job="checkout"})', "max": 0.5}],
            },
        )
        wait_for(lambda: Operation.objects.get(pk=op.pk).progress_done >= 1, timeout=60)
        exporter.value = 0.9  # the second batch bakes while the errors climb
        op = wait_for(lambda: finished(op.pk), timeout=90)

    assert op.state == OperationState.FAILED
    assert 'Batch 2: analysis failed: max(checkout_errors_ratio{job="checkout"}) = 0.9, must be ≤ 0.5' in op.error
    assert "Rolled back: 1 instance(s) back on image 1.0.0" in op.error
    forward = dict(Replacement.objects.filter(operation=op, rollback=False).values_list("batch", "state"))
    assert forward == {1: ReplacementState.DONE, 2: ReplacementState.ROLLED_BACK, None: ReplacementState.SKIPPED}
    running = Instance.objects.filter(component=component, state=InstanceState.RUNNING)
    assert running.count() == 3 and set(running.values_list("image", flat=True)) == {previous.pk}
    component.refresh_from_db()
    assert component.current_image == previous
    assert op.result["analysis"]["verdict"] == "failed"
