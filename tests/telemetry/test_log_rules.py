"""Log rules: patterns bounded so a rule cannot make intake backtrack for long."""

from __future__ import annotations

import time

import pytest
from django.core.exceptions import ValidationError

from estate.core.services import validated_save
from estate.telemetry.intake.logs import LOG_LINE_MAX, LogMatcher
from estate.telemetry.models import LogRule

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_log_rules")]


def test_the_default_rules_are_there_and_enabled():
    kinds = set(LogRule.objects.filter(enabled=True).values_list("kind", flat=True))
    assert kinds == {"ssh_session", "package_install", "config_change"}


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(a+)+$", "repeated group"),
        (r"(\w*x)*y", "repeated group"),
        ("(?:a|aa){2,}(b*)+", "repeated group"),
        (r"(a)\1", "Back-references"),
        ("(unclosed", "Not a regular expression"),
        ("a" * 301, "At most 300"),
    ],
)
def test_a_pattern_that_could_backtrack_or_is_not_one_is_refused(pattern, reason):
    with pytest.raises(ValidationError) as refused:
        validated_save(LogRule(name="bad", pattern=pattern, kind="ssh_session"))
    assert reason in str(refused.value.message_dict["pattern"])
    assert not LogRule.objects.filter(name="bad").exists()


def test_a_plain_pattern_is_saved():
    rule = validated_save(LogRule(name="su", pattern=r"\bsu\[\d+\]: \(to root\)", kind="ssh_session"))
    assert LogRule.objects.get(pk=rule.pk).enabled


def test_matching_a_long_hostile_line_against_every_default_rule_stays_fast():
    matcher = LogMatcher()
    hostile = "Accepted " + "a" * 1_000_000
    started = time.perf_counter()
    for _ in range(100):
        assert matcher.kind_of(hostile) == ""
    assert time.perf_counter() - started < 2  # each line is cut to LOG_LINE_MAX before searching
    assert LOG_LINE_MAX <= 2000


def test_a_rule_that_backtracks_catastrophically_is_cut_off_and_the_others_still_match(default_log_rules):
    # Written past clean() (as a raw UPDATE or an old row would be): the timeout is the last guard.
    LogRule.objects.create(name="0 slow", pattern=r"(x+x+)+y", kind="file_change")
    matcher = LogMatcher()
    started = time.perf_counter()
    kinds = [matcher.kind_of("x" * 1500), matcher.kind_of("x" * 1500 + " Accepted publickey for eve from 10.0.0.9")]
    assert time.perf_counter() - started < 5  # one LOG_MATCH_TIMEOUT (0.05 s), then skipped; unbounded: minutes
    assert kinds == ["", "ssh_session"]
    assert "0 slow" in matcher.slow


def test_an_admin_edits_rules_through_the_api_with_the_models_bounds(api):
    body = {"name": "su to root", "pattern": r"\bsu\[\d+\]: \(to root\)", "kind": "ssh_session"}
    created = api.post("/api/v1/log-rules/", body, format="json")
    assert created.status_code == 201 and created.json()["enabled"]
    refused = api.post("/api/v1/log-rules/", {**body, "name": "slow", "pattern": "(a+)+$"}, format="json")
    assert refused.status_code == 400 and "repeated group" in refused.json()["errors"]["pattern"][0]
    rule = created.json()["id"]
    assert api.patch(f"/api/v1/log-rules/{rule}/", {"enabled": False}, format="json").status_code == 200
    assert not LogRule.objects.get(pk=rule).enabled


def test_a_viewer_reads_log_rules_but_cannot_write_them(viewer_api):
    assert viewer_api.get("/api/v1/log-rules/?kind=ssh_session").status_code == 200
    assert viewer_api.post("/api/v1/log-rules/", {}, format="json").status_code == 403
