from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from estate.access import roles
from estate.patching.services import occurrence_materialise
from estate.runbooks.models import RunbookTemplate, WindowRunbook
from tests.conftest import user_with_role
from tests.factories import BastionComponentFactory, ClusterFactory
from tests.patching.conftest import make_window

NODE = Path(__file__).with_name("node.py")


class Cluster:
    """The pretend cluster's state folder: what the node script was asked and what it did."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, **values) -> None:
        data = {**self.read(), **values}
        (self.path / "cluster.json").write_text(json.dumps(data))

    def read(self) -> dict:
        file = self.path / "cluster.json"
        return json.loads(file.read_text()) if file.exists() else {}

    def lines(self, name: str) -> list[str]:
        file = self.path / name
        return file.read_text().splitlines() if file.exists() else []

    def performed(self) -> list[str]:
        return self.lines("performed.log")

    def asked(self) -> list[str]:
        return [line for line in self.lines("asked.log") if not line.startswith("facts")]

    def commands(self) -> dict[str, list[str]]:
        node = [sys.executable, str(NODE), str(self.path)]
        return {
            "patch": [*node, "{action}", "{node}", "{key}", "{params}"],
            "switchover": [*node, "{action}", "{node}", "{key}", "{params}"],
            "fail": [*node, "{action}", "{node}", "{key}", "{params}"],
            "facts": [*node, "facts", "-", "{key}", "{}"],
        }


@pytest.fixture
def cluster(tmp_path, settings) -> Cluster:
    state = Cluster(tmp_path / "node")
    state.path.mkdir()
    state.write(
        target_version="16.4",
        members=[
            {"name": "db-1", "role": "primary", "engine_version": "16.3", "lag_seconds": 0},
            {"name": "db-2", "role": "replica", "engine_version": "16.3", "lag_seconds": 0},
        ],
    )
    settings.RUNBOOK_COMMANDS = state.commands()
    settings.RUNBOOK_GATE_POLL_SECONDS = 0.5
    return state


@pytest.fixture
def members(db):
    pg = ClusterFactory(name="pg-main")
    common = {"cluster": pg, "environment": pg.environment, "engine_version": "16.3"}
    primary = BastionComponentFactory(name="db-1", role="primary", **common)
    replica = BastionComponentFactory(name="db-2", role="replica", team=primary.team, system=primary.system, **common)
    return [primary, replica]


def open_occurrence(components, *, starts_in=timedelta(minutes=-5), duration=timedelta(hours=1), **extra):
    """An occurrence of a one-off window over the components; by default open now."""
    start = (timezone.now() + starts_in).replace(microsecond=0)
    window = make_window(components, start, duration=duration, **extra)
    return occurrence_materialise(window, start)


def template(steps, *, name="Patch the cluster", executor="command", window=None) -> RunbookTemplate:
    row = RunbookTemplate(name=name, executor=executor, steps=steps)
    row.full_clean()
    row.save()
    if window is not None:
        WindowRunbook.objects.create(window=window, template=row)
    return row


@pytest.fixture
def requester(db):
    return user_with_role("requester", roles.OPERATOR)


@pytest.fixture
def approver(db):
    return user_with_role("approver", roles.OPERATOR)
