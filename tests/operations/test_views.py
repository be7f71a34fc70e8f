from __future__ import annotations

import pytest
from django.urls import reverse

from estate.operations.choices import OperationKind, OperationState
from estate.operations.models import Operation
from tests.operations.conftest import run_to_end

pytestmark = pytest.mark.django_db


@pytest.fixture
def dispatched(monkeypatch):
    from estate.operations import services

    sent = []
    monkeypatch.setattr(services, "dispatch", sent.append)
    return sent


def test_component_page_shows_the_operations_panel_with_buttons(client, admin_user, component):
    client.force_login(admin_user)
    html = client.get(component.get_absolute_url()).content.decode()
    assert 'data-testid="operations-panel"' in html
    for button in ('data-testid="rebuild"', 'data-testid="roll"', 'data-testid="replace"'):
        assert button in html
    assert "simulated in Estate's own tables" in html and "data-confirm" in html


def test_bastion_page_has_no_operations_panel(client, admin_user, bastion):
    client.force_login(admin_user)
    assert 'data-testid="operations-panel"' not in client.get(bastion.get_absolute_url()).content.decode()


def test_viewer_sees_operations_but_no_buttons(client, viewer, component):
    client.force_login(viewer)
    html = client.get(component.get_absolute_url()).content.decode()
    assert 'data-testid="operations-panel"' in html and 'data-testid="roll"' not in html


def test_roll_button_queues_an_operation_and_shows_it(client, admin_user, component, dispatched):
    client.force_login(admin_user)
    response = client.post(
        reverse("operation_create", args=[component.pk]),
        {"kind": "roll_component", "batch_size": "2", "checkpoints": "50", "reason": "new image"},
    )
    op = Operation.objects.get()
    assert response.status_code == 302 and response["Location"] == op.get_absolute_url()
    assert op.params == {"batch_size": 2, "rollback": False, "checkpoints": [50]}
    page = client.get(op.get_absolute_url()).content.decode()
    assert 'hx-trigger="every 2s"' in page and "Requested by admin: new image" in page


def test_the_roll_form_sends_its_gates_and_promql_conditions(client, admin_user, component, dispatched):
    client.force_login(admin_user)
    client.post(
        reverse("operation_create", args=[component.pk]),
        {
            "kind": "roll_component",
            "batch_size": "1",
            "rollback": "on",
            "warmup_seconds": "10",
            "bake_seconds": "120",
            "max_dependent_error_rate": "0.02",
            "analysis_queries": 'sum(rate(errors{job="$component"}[1m])) <= 0.05\n\navg(up{job="$component"}) >= 0.9\n',
        },
    )
    op = Operation.objects.get()
    assert op.params["bake_seconds"] == 120 and op.params["warmup_seconds"] == 10 and op.params["rollback"] is True
    assert op.params["max_dependent_error_rate"] == 0.02
    assert op.params["analysis_queries"] == [
        {"query": 'sum(rate(errors{job="$component"}[1m]))', "max": 0.05},
        {"query": 'avg(up{job="$component"})', "min": 0.9},
    ]


def test_a_condition_without_a_bound_is_refused_naming_its_line(client, admin_user, component):
    client.force_login(admin_user)
    response = client.post(
        reverse("operation_create", args=[component.pk]),
        {"kind": "roll_component", "analysis_queries": "up <= 1\nrate(errors[1m])"},
        follow=True,
    )
    assert "analysis_queries: Line 2: write &lt;query&gt; &lt;= number" in response.content.decode()
    assert not Operation.objects.exists()


def test_refusal_is_shown_on_the_component_page(client, admin_user, bastion):
    client.force_login(admin_user)
    response = client.post(reverse("operation_create", args=[bastion.pk]), {"kind": "rebuild_image"}, follow=True)
    assert "patched in a maintenance window" in response.content.decode()
    assert not Operation.objects.exists()


def test_finished_operation_page_stops_polling(client, admin_user, component):
    client.force_login(admin_user)
    op = Operation.objects.create(
        component=component, kind=OperationKind.ROLL_COMPONENT, state=OperationState.SUCCEEDED
    )
    html = client.get(op.get_absolute_url()).content.decode()
    assert "hx-trigger" not in html


def test_live_fragment_for_htmx(client, admin_user, component):
    client.force_login(admin_user)
    op = Operation.objects.create(component=component, kind=OperationKind.ROLL_COMPONENT)
    html = client.get(op.get_absolute_url(), headers={"HX-Request": "true"}).content.decode()
    assert html.lstrip().startswith('<div id="operation-live"') and "<html" not in html
    panel = client.get(reverse("component_operations", args=[component.pk]), headers={"HX-Request": "true"})
    assert panel.content.decode().lstrip().startswith('<div id="operations-live"')


def test_cancel_button(client, admin_user, component):
    client.force_login(admin_user)
    op = Operation.objects.create(component=component, kind=OperationKind.ROLL_COMPONENT)
    client.post(reverse("operation_cancel", args=[op.pk]))
    op.refresh_from_db()
    assert op.state == OperationState.CANCELLED


def test_viewer_cannot_start_or_cancel(client, viewer, component):
    client.force_login(viewer)
    assert client.post(reverse("operation_create", args=[component.pk]), {"kind": "rebuild_image"}).status_code == 403


def test_operation_list_with_empty_state_and_rows(client, admin_user, component):
    client.force_login(admin_user)
    assert "No operation matches" in client.get(reverse("operation_list")).content.decode()
    Operation.objects.create(component=component, kind=OperationKind.ROLL_COMPONENT)
    html = client.get(reverse("operation_list")).content.decode()
    assert component.name in html and 'hx-trigger="every 3s"' in html


def test_a_finished_roll_lists_each_instance_replaced_and_each_steps_duration(client, admin_user, component):
    from estate.operations import services
    from tests.html_text import table_rows

    olds = sorted(component.instances.values_list("external_id", flat=True))
    op = services.operation_start(component=component, kind=OperationKind.ROLL_COMPONENT)
    op = run_to_end(op)
    assert op.state == OperationState.SUCCEEDED
    client.force_login(admin_user)
    html = client.get(op.get_absolute_url()).content.decode()
    rows = table_rows(html, **{"data-testid": "replacements"})
    news = set(op.replacements.values_list("new_instance__external_id", flat=True))
    assert sorted(row[1].split()[0] for row in rows) == olds
    assert {row[2].split()[0] for row in rows} == news
    assert {row[3] for row in rows} == {"2.0.0"}  # the image the new instances run
    assert html.count('data-testid="step-duration"') == op.steps.count()


def test_the_operation_page_shows_parameters_as_people_read_them(client, admin_user, component):
    client.force_login(admin_user)
    op = Operation.objects.create(
        component=component,
        kind=OperationKind.ROLL_COMPONENT,
        params={"rollback": True, "bake_seconds": 30.0, "analysis_queries": [{"query": "up<1>", "max": 0.05}]},
    )
    html = client.get(op.get_absolute_url()).content.decode()
    assert "<code>rollback</code> = yes" in html and "<code>bake_seconds</code> = 30<" in html
    assert "<code>analysis_queries</code> = up&lt;1&gt; ≤ 0.05" in html  # escaped, one condition per line
