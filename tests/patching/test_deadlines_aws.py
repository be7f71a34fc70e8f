"""Pending vendor maintenance read by the discovery sync, against moto in server mode.

moto (5.2) implements neither RDS DescribePendingMaintenanceActions nor ElastiCache DescribeUpdateActions.
So boto3 talks to a small HTTP peer in front of moto: it answers those two calls in AWS's own query
protocol (XML, with Marker pagination) from what the test says AWS has pending, and forwards every other
request to moto untouched. Everything else — the instances, groups, tags — is moto's.
"""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import boto3
import pytest
import requests
from django.utils import timezone

os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")

from moto.server import ThreadedMotoServer  # noqa: E402

from estate.core.findings import finding_list  # noqa: E402
from estate.discovery import services  # noqa: E402
from estate.discovery.models import DiscoverySource  # noqa: E402
from estate.patching import deadlines  # noqa: E402
from estate.patching.models import Deadline  # noqa: E402

REGION = "eu-west-1"
RDS_NS, CACHE_NS = "http://rds.amazonaws.com/doc/2014-10-31/", "http://elasticache.amazonaws.com/doc/2015-02-02/"


class VendorPeer:
    """What AWS has pending, served to boto3; `failing` answers the two calls with AWS's access-denied error."""

    def __init__(self, moto_url: str):
        self.moto_url = moto_url
        self.rds: list[tuple[str, list[dict]]] = []  # (resource ARN, actions), one resource per page
        self.cache: list[dict] = []
        self.failing = False
        self.calls: list[str] = []

    def answer(self, action: str, params: dict) -> tuple[int, str] | None:
        if action not in ("DescribePendingMaintenanceActions", "DescribeUpdateActions"):
            return None
        self.calls.append(action)
        if self.failing:
            return 403, _error("AccessDenied", f"not authorized to perform: {action}")
        if action == "DescribeUpdateActions":
            return 200, _update_actions(self.cache)
        page = int(params.get("Marker", ["0"])[0])
        return 200, _pending_page(self.rds, page)


def _error(code: str, message: str) -> str:
    return (
        f'<ErrorResponse xmlns="{RDS_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>peer</RequestId></ErrorResponse>"
    )


def _pending_page(resources: list, page: int) -> str:
    body = ""
    if page < len(resources):
        arn, actions = resources[page]
        details = "".join(f"<PendingMaintenanceAction>{_fields(a)}</PendingMaintenanceAction>" for a in actions)
        body = (
            f"<ResourcePendingMaintenanceActions><ResourceIdentifier>{arn}</ResourceIdentifier>"
            f"<PendingMaintenanceActionDetails>{details}</PendingMaintenanceActionDetails></ResourcePendingMaintenanceActions>"
        )  # fmt: skip
    marker = f"<Marker>{page + 1}</Marker>" if page + 1 < len(resources) else ""
    return (
        f'<DescribePendingMaintenanceActionsResponse xmlns="{RDS_NS}"><DescribePendingMaintenanceActionsResult>'
        f"<PendingMaintenanceActions>{body}</PendingMaintenanceActions>{marker}</DescribePendingMaintenanceActionsResult>"
        "<ResponseMetadata><RequestId>peer</RequestId></ResponseMetadata></DescribePendingMaintenanceActionsResponse>"
    )


def _fields(item: dict) -> str:
    return "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in item.items())


def _update_actions(actions: list[dict]) -> str:
    items = "".join(f"<UpdateAction>{_fields(a)}</UpdateAction>" for a in actions)
    return (
        f'<DescribeUpdateActionsResponse xmlns="{CACHE_NS}"><DescribeUpdateActionsResult>'
        f"<UpdateActions>{items}</UpdateActions></DescribeUpdateActionsResult>"
        "<ResponseMetadata><RequestId>peer</RequestId></ResponseMetadata></DescribeUpdateActionsResponse>"
    )


def _handler(peer: VendorPeer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):
            self._forward(b"")

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            params = parse_qs(body.decode("utf-8", "replace"))
            answer = peer.answer(params.get("Action", [""])[0], params)
            if answer is None:
                self._forward(body)
                return
            status, xml = answer
            data = xml.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _forward(self, body: bytes):
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            upstream = requests.request(
                self.command, peer.moto_url + self.path, data=body, headers=headers, timeout=30
            )  # fmt: skip
            self.send_response(upstream.status_code)
            for key, value in upstream.headers.items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(upstream.content)))
            self.end_headers()
            self.wfile.write(upstream.content)

    return Handler


@pytest.fixture(scope="module")
def aws_peer():
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    peer = VendorPeer(f"http://{host}:{port}")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(peer))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    peer.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield peer
    server.shutdown()
    moto.stop()


@pytest.fixture
def peer(aws_peer, monkeypatch):
    requests.post(f"{aws_peer.moto_url}/moto-api/reset", timeout=10)
    aws_peer.rds, aws_peer.cache, aws_peer.failing, aws_peer.calls = [], [], False, []
    monkeypatch.setenv("ESTATE_TEST_AWS_KEY_ID", "testing")
    monkeypatch.setenv("ESTATE_TEST_AWS_SECRET", "testing")
    return aws_peer


@pytest.fixture
def source(db, peer) -> DiscoverySource:
    return DiscoverySource.objects.create(
        name="aws-deadlines",
        kind="aws",
        regions=[REGION],
        endpoint_url=peer.url,
        access_key_id_env="ESTATE_TEST_AWS_KEY_ID",
        secret_access_key_env="ESTATE_TEST_AWS_SECRET",
    )


def _client(peer, service: str):
    return boto3.client(
        service, region_name=REGION, endpoint_url=peer.moto_url, aws_access_key_id="t", aws_secret_access_key="t"
    )


def _database(peer, name: str) -> str:
    answer = _client(peer, "rds").create_db_instance(
        DBInstanceIdentifier=name, Engine="postgres", EngineVersion="16.4", DBInstanceClass="db.t3.micro",
        AllocatedStorage=20, MasterUsername="estate", MasterUserPassword="password123",
    )  # fmt: skip
    return answer["DBInstance"]["DBInstanceArn"]


def _sync(source):
    run = services.sync_now(source=source)
    assert run.state == "succeeded", run.region_errors
    return run


def test_a_pending_rds_action_becomes_a_finding_with_a_proposal(source, peer):
    orders, ledger = _database(peer, "orders-db"), _database(peer, "ledger-db")
    due = (timezone.now() + timedelta(days=40)).replace(microsecond=0)
    _client(peer, "elasticache").create_replication_group(
        ReplicationGroupId="sessions", ReplicationGroupDescription="sessions", Engine="redis", EngineVersion="7.0",
        NumCacheClusters=1, CacheNodeType="cache.t3.micro",
    )  # fmt: skip
    peer.rds = [  # two pages: the reader follows the Marker
        (orders, [{"Action": "system-update", "AutoAppliedAfterDate": due.isoformat(), "Description": "OS update"}]),
        (ledger, [{"Action": "db-upgrade", "ForcedApplyDate": (due + timedelta(days=5)).isoformat()}]),
    ]
    peer.cache = [{"ReplicationGroupId": "sessions", "ServiceUpdateName": "elc-20270101-001",
                   "ServiceUpdateRecommendedApplyByDate": due.isoformat(), "ServiceUpdateSeverity": "important",
                   "ServiceUpdateType": "security-update", "UpdateActionStatus": "not-applied"}]  # fmt: skip

    _sync(source)
    deadlines.deadlines_refresh()

    rows = {(d.component.name, d.source, d.action): d for d in Deadline.objects.select_related("component")}
    assert set(rows) == {
        ("orders-db", "rds", "system-update"),
        ("ledger-db", "rds", "db-upgrade"),
        ("sessions", "elasticache", "elc-20270101-001"),
    }
    system_update = rows["orders-db", "rds", "system-update"]
    assert (system_update.due, system_update.description) == (due, "OS update")
    assert system_update.proposed_start is not None and system_update.proposed_end <= due
    messages = [f.message for f in finding_list(kind="vendor-maintenance-pending")[1]]
    assert any(
        m.startswith(f"AWS will apply system-update to orders-db on {due:%Y-%m-%d}") and "Proposed window:" in m
        for m in messages
    )
    assert peer.calls.count("DescribePendingMaintenanceActions") == 2


def test_what_aws_no_longer_lists_is_gone_and_what_could_not_be_read_is_kept(source, peer):
    orders = _database(peer, "orders-db")
    due = timezone.now() + timedelta(days=40)
    peer.rds = [(orders, [{"Action": "system-update", "AutoAppliedAfterDate": due.isoformat()}])]
    _sync(source)
    assert Deadline.objects.count() == 1

    peer.failing = True  # a role without rds:DescribePendingMaintenanceActions: the sync still succeeds
    _sync(source)
    assert Deadline.objects.count() == 1

    peer.failing, peer.rds = False, []  # applied: AWS lists it no more
    _sync(source)
    assert Deadline.objects.count() == 0
