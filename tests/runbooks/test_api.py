"""The runbook API's wiring: refusals in the one error shape, naming the field and the reason."""

from __future__ import annotations

from datetime import timedelta

import pytest

from estate.runbooks import services
from estate.runbooks.models import RunbookRun, RunbookTemplate, WindowRunbook
from tests.conftest import token_client
from tests.operations.conftest import run_to_end
from tests.runbooks.conftest import open_occurrence, template

pytestmark = pytest.mark.django_db


def test_a_step_the_executor_cannot_do_is_refused_at_save_naming_the_step_and_its_actions(cluster, requester):
    body = {
        "name": "Reboot",
        "executor": "command",
        "steps": [{"type": "manual", "name": "drain"}, {"type": "action", "name": "reboot all", "action": "reboot"}],
    }
    response = token_client(requester).post("/api/v1/runbook-templates/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["steps"] == [
        "Step 2 “reboot all”: the command executor cannot “reboot”; it can: fail, patch, switchover."
    ]
    assert not RunbookTemplate.objects.filter(name="Reboot").exists()


@pytest.mark.parametrize(
    ("step", "says"),
    [
        ({"type": "dance"}, "type must be one of action, gate, approval, manual, notify"),
        ({"type": "gate", "name": "g", "conditions": []}, "a gate has 1 to 10 conditions"),
        ({"type": "gate", "name": "g", "conditions": [{"kind": "lag", "max_seconds": -1}]}, "max_seconds is a number"),
        ({"type": "action", "name": "a", "action": "patch", "timeout_seconds": 99999}, "timeout_seconds is a number"),
        ({"type": "action", "name": "a", "action": "patch", "target": "everyone"}, "target must be one of"),
        (
            {"type": "gate", "name": "g", "conditions": [{"kind": "promql", "query": "up", "max": "a"}]},
            "max is a number",
        ),
        ({"type": "gate", "name": "g", "conditions": ["health"]}, "a condition's kind is one of"),
        ({"type": "manual", "name": ["not", "text"]}, "a name of 1 to 200 characters"),
        ({"type": "action", "name": "a", "action": "patch", "params": "sleep"}, "params is an object"),
        ("", "a name of 1 to 200 characters"),
    ],
)
def test_a_malformed_step_is_refused_naming_it(cluster, requester, step, says):
    body = {"name": "Bad", "executor": "command", "steps": [step]}
    response = token_client(requester).post("/api/v1/runbook-templates/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["steps"][0].startswith("Step 1")
    assert says in response.json()["errors"]["steps"][0]


def test_a_run_outside_its_window_is_a_409_naming_the_occurrence(cluster, members, requester):
    occurrence = open_occurrence(members[:1], starts_in=timedelta(days=1))
    template([{"type": "manual", "name": "look"}], window=occurrence.window)
    response = token_client(requester).post("/api/v1/runbook-runs/", {"occurrence": occurrence.key}, format="json")
    assert response.status_code == 409
    assert "only inside its window" in response.json()["errors"]["occurrence"][0]
    assert not RunbookRun.objects.exists()


@pytest.mark.parametrize(
    ("key", "says"),
    [("0", "look like"), ("999999-1764500000", "No PatchWindow matches"), ("1-99999999999999999", "No occurrence")],
)
def test_an_occurrence_key_that_names_nothing_is_a_400_naming_the_field(requester, key, says):
    response = token_client(requester).post("/api/v1/runbook-runs/", {"occurrence": key}, format="json")
    assert response.status_code == 400
    assert says in response.json()["errors"]["occurrence"][0]
    assert not RunbookRun.objects.exists()


def test_start_then_approve_by_another_operator(cluster, members, requester, approver):
    occurrence = open_occurrence(members[:1])
    template([{"type": "approval", "name": "go?"}], window=occurrence.window)
    started = token_client(requester).post("/api/v1/runbook-runs/", {"occurrence": occurrence.key}, format="json")
    assert started.status_code == 202, started.content
    run = RunbookRun.objects.get(pk=started.json()["id"])
    run_to_end(run.operation)

    decide = f"/api/v1/runbook-runs/{run.pk}/decide/"
    refused = token_client(requester).post(decide, {"step": 1, "decision": "approve"}, format="json")
    assert refused.status_code == 403
    assert "requester" in refused.json()["detail"] or "another operator must approve" in refused.json()["detail"]

    approved = token_client(approver).post(decide, {"step": 1, "decision": "approve"}, format="json")
    assert approved.status_code == 202
    assert approved.json()["steps"][0]["state"] == "done"
    assert approved.json()["steps"][0]["decided_by"] == "approver"
    assert run_to_end(run.operation).state == "succeeded"


def test_a_decision_on_a_step_not_waiting_is_a_409(cluster, members, requester, approver):
    occurrence = open_occurrence(members[:1])
    run_id = (
        token_client(requester)
        .post(
            "/api/v1/runbook-runs/",
            {
                "occurrence": occurrence.key,
                "template": template([{"type": "manual", "name": "a"}, {"type": "manual", "name": "b"}]).pk,
            },
            format="json",
        )  # fmt: skip
        .json()["id"]
    )
    run_to_end(RunbookRun.objects.get(pk=run_id).operation)
    response = token_client(approver).post(
        f"/api/v1/runbook-runs/{run_id}/decide/", {"step": 2, "decision": "tick"}, format="json"
    )
    assert response.status_code == 409
    assert "is not waiting for a person" in response.json()["errors"]["step"][0]


@pytest.mark.parametrize("lines", [2, 40])
def test_the_console_costs_the_same_queries_however_long_the_run(
    client, members, requester, lines, django_assert_max_num_queries
):
    occurrence = open_occurrence(members[:1], runbook=[f"line {n}" for n in range(lines)])
    run = services.run_start(occurrence=occurrence, requested_by=requester)
    run_to_end(run.operation)
    client.force_login(requester)
    with django_assert_max_num_queries(20):
        page = client.get(f"/patching/occurrences/{occurrence.key}/")
    assert page.status_code == 200
    assert page.content.decode().count('data-testid="run-step"') == lines
    with django_assert_max_num_queries(14):
        assert client.get(f"/runbooks/occurrences/{occurrence.key}/console/").status_code == 200


def test_the_calendar_shows_a_running_occurrences_progress(client, members, requester):
    occurrence = open_occurrence(members[:1], runbook=["drain", "patch", "check"])
    run = services.run_start(occurrence=occurrence, requested_by=requester)
    run_to_end(run.operation)
    client.force_login(requester)
    start, end = occurrence.start - timedelta(days=1), occurrence.end + timedelta(days=1)
    events = client.get("/patching/calendar/events.json", {"start": start.isoformat(), "end": end.isoformat()}).json()
    shown = next(e for e in events if e["id"] == occurrence.key)
    assert shown["extendedProps"]["progress"] == "Runbook: 0 of 3 steps (waiting for a person)"
    assert shown["title"].startswith("▶ ")


def test_an_operator_attaches_a_template_to_the_window_from_the_console_and_detaches_it(client, members, requester):
    occurrence = open_occurrence(members[:1])
    chosen = template([{"type": "manual", "name": "look"}], name="Look")
    client.force_login(requester)
    page = client.post(
        f"/runbooks/occurrences/{occurrence.key}/attach/", {"template": chosen.pk}, HTTP_HX_REQUEST="true"
    )
    assert page.status_code == 200 and "This window runs “Look”" in page.content.decode()
    assert WindowRunbook.objects.get(window=occurrence.window).template == chosen
    client.post(f"/runbooks/occurrences/{occurrence.key}/attach/", {"template": ""})
    assert not WindowRunbook.objects.exists()


def test_start_with_run_parameters_and_bad_ones_name_params(cluster, members, requester):
    occurrence = open_occurrence(members[:1])
    steps = [{"type": "action", "name": "upgrade", "action": "patch", "target": "replicas", "params": {"version": ""}}]
    template(steps, window=occurrence.window)
    client = token_client(requester)
    start = lambda params: client.post(  # noqa: E731
        "/api/v1/runbook-runs/", {"occurrence": occurrence.key, "params": params}, format="json"
    )
    bad = start({"Version": "1"})
    assert bad.status_code == 400 and "params" in bad.json()["errors"]
    good = start({"version": "16.5"})
    assert good.status_code == 202, good.content
    assert RunbookRun.objects.get().steps.get().spec["params"] == {"version": "16.5"}
