"""Fuzz POST /api/v1/change-freezes/import/ (estate/patching/ical.py): an .ics file many freezes come
from. Whatever the file holds, never a 5xx; a refused file writes nothing, an accepted one writes
exactly the freezes it reports."""

from __future__ import annotations

from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from estate.patching.models import ChangeFreeze
from tests.fuzz.conftest import FUZZ, assert_error_shape, assert_no_5xx, isolated, snapshot

URL = "/api/v1/change-freezes/import/"
ODD = st.text(st.characters(codec="utf-8"), max_size=30)  # NUL, controls, lone surrogates excluded by utf-8


def _stamp(moment) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


@st.composite
def dates(draw) -> str:
    """Mostly times in the import window, in each form a calendar writes them, and some garbage."""
    now = timezone.now()
    moment = now + timedelta(hours=draw(st.integers(-24 * 30, 24 * 400)))
    return draw(
        st.sampled_from(
            [
                _stamp(moment),
                moment.strftime("%Y%m%d"),
                "TZID=Europe/Paris:" + moment.strftime("%Y%m%dT%H%M%S"),
                "TZID=Nowhere/Atlantis:" + moment.strftime("%Y%m%dT%H%M%S"),
                "99991231T000000Z",
                "00010101T000000Z",
                "20270230T250000Z",
                "not-a-date",
                "",
            ]
        )
    )


@st.composite
def events(draw) -> str:
    lines = ["BEGIN:VEVENT"]
    if draw(st.booleans()):
        lines.append(f"UID:{draw(ODD)}")
    if draw(st.integers(0, 9)):
        start = draw(dates())
        lines.append(f"DTSTART;{start}" if start.startswith("TZID") else f"DTSTART:{start}")
    if draw(st.booleans()):
        end = draw(dates())
        lines.append(f"DTEND;{end}" if end.startswith("TZID") else f"DTEND:{end}")
    if draw(st.booleans()):
        lines.append(f"SUMMARY:{draw(ODD)}")
    if draw(st.booleans()):
        rule = ["FREQ=DAILY;COUNT=3", "FREQ=WEEKLY", "FREQ=YEARLY;UNTIL=20270101T000000Z", "FREQ=BOGUS", "COUNT=-1",
                "FREQ=MINUTELY"]  # fmt: skip
        lines.append(f"RRULE:{draw(st.sampled_from(rule))}")
    lines.append("END:VEVENT")
    return "\r\n".join(lines)


@st.composite
def files(draw) -> bytes:
    kind = draw(st.sampled_from(["calendar", "calendar", "calendar", "text", "bytes", "truncated"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "text":
        return draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")
    body = "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//fuzz//EN", *draw(st.lists(events(), max_size=5)),
                        "END:VCALENDAR"])  # fmt: skip
    data = body.encode()
    return data[: draw(st.integers(0, len(data)))] if kind == "truncated" else data


@FUZZ
@given(content=files(), scope=st.sampled_from(["all", "environment", "system", "", "bogus"]))
def test_a_malformed_calendar_never_fails_and_never_half_imports(admin_api, estate, content, scope):
    with isolated():
        before = snapshot()
        upload = SimpleUploadedFile("freezes.ics", content, content_type="text/calendar")
        data = {"file": upload, "scope": scope}
        if scope == "environment":
            data["environment"] = "production"
        if scope == "system":
            data["system"] = "orders"
        response = admin_api.post(URL, data, format="multipart")
        assert_no_5xx(response, content)
        if response.status_code >= 400:
            assert_error_shape(response)
            assert snapshot() == before, (response.json(), content)
        else:
            counts = response.json()
            assert ChangeFreeze.objects.count() == before["patching.changefreeze"][0] + counts["created"]


def _calendar(*events: str) -> bytes:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", *events, "END:VCALENDAR"]).encode()


def _event(uid: str, start: str, end: str, rule: str = "") -> str:
    lines = ["BEGIN:VEVENT", f"UID:{uid}", f"DTSTART:{start}", f"DTEND:{end}", "SUMMARY:Freeze"]
    return "\r\n".join([*lines, *([f"RRULE:{rule}"] if rule else []), "END:VEVENT"])


def _post(admin_api, content: bytes):
    return admin_api.post(URL, {"file": SimpleUploadedFile("f.ics", content), "scope": "all"}, format="multipart")


def test_an_unreadable_date_is_a_400_not_a_500(admin_api, estate):
    start = _stamp(timezone.now() + timedelta(days=3))
    response = _post(admin_api, _calendar(_event("a", start, "not-a-date")))
    assert response.status_code == 400 and response.json()["errors"]["file"]
    assert not ChangeFreeze.objects.exists()


def test_one_bad_period_refuses_the_whole_file(admin_api, estate):
    soon = timezone.now() + timedelta(days=3)
    good = _event("good", _stamp(soon), _stamp(soon + timedelta(hours=2)))
    instant = _event("instant", _stamp(soon + timedelta(days=1)), _stamp(soon + timedelta(days=1)))  # ends as it starts
    response = _post(admin_api, _calendar(good, instant))
    assert response.status_code == 400
    assert not ChangeFreeze.objects.exists()


def test_a_rule_too_fine_to_expand_is_refused_without_expanding_it(admin_api, estate):
    soon = timezone.now() + timedelta(days=1)
    minutely = _event("m", _stamp(soon), _stamp(soon + timedelta(seconds=30)), rule="FREQ=MINUTELY")
    response = _post(admin_api, _calendar(minutely))
    assert response.status_code == 400 and "FREQ=MINUTELY is finer than Estate allows" in response.json()["detail"]
    assert not ChangeFreeze.objects.exists()


def test_daily_rules_that_together_give_too_many_periods_are_refused_before_expanding(admin_api, estate):
    soon = timezone.now() + timedelta(days=1)
    daily = [_event(f"d{i}", _stamp(soon), _stamp(soon + timedelta(hours=1)), rule="FREQ=DAILY") for i in range(3)]
    response = _post(admin_api, _calendar(*daily))
    assert response.status_code == 400 and "more than 2000 periods" in response.json()["detail"]
    assert not ChangeFreeze.objects.exists()
