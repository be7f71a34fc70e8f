"""Deadlines set by others — a vendor's pending maintenance, an engine's end of life — and the window proposed for each.

A deadline is a row per (component, source, action). Vendor rows come from discovery (replaced set-wise for
the components a sync read), end-of-life rows from the shipped table (`deadlines_refresh`). Each row keeps its
proposal: the first free slot before the deadline, searched with the conflict rules of conflicts.py (freezes,
the component's own windows, its cluster's, shared dependents) so there is one rule in one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import yaml
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Concat, StrIndex
from django.utils import timezone

from estate.audit.choices import AuditAction
from estate.audit.services import audit_record
from estate.core.errors import ApplicationError
from estate.inventory.choices import Engine, Mode
from estate.inventory.models import Component
from estate.patching.choices import ChangeKind, DeadlineSource, ImpactKind
from estate.patching.conflicts import ERROR, Draft, find_conflicts
from estate.patching.models import ChangeFreeze, Deadline, EngineEndOfLife, PatchWindow

SEARCH_DAYS = 90  # how far ahead a proposal is searched
EOL_NOTICE_DAYS = 365  # an end of life this close is a finding: a major upgrade takes planning
DEFAULT_SLOT = (time(2, 0), timedelta(hours=1))  # 02:00 UTC for an hour when the component has no window yet
MAX_EOL_ROWS = 500
MAX_EOL_BYTES = 200_000
EOL_FIELDS = {"engine", "name", "version", "end_of_life", "source"}
EOL_ENGINES = {choice.value for choice in Engine} - {Engine.OTHER}
DEFAULT_EOL_FILE = settings.BASE_DIR / "estate" / "patching" / "data" / "eol.yaml"


@dataclass
class VendorAction:
    """One pending action as a vendor's API reports it, before it is stored."""

    source: str
    action: str
    description: str = ""
    auto_applied_after: datetime | None = None
    forced_apply_date: datetime | None = None
    opt_in_status: str = ""

    @property
    def due(self) -> datetime | None:
        dates = [d for d in (self.auto_applied_after, self.forced_apply_date) if d]
        return min(dates) if dates else None


# --- vendor actions (from discovery) -----------------------------------------------------------------


VENDOR_FIELDS = ("description", "auto_applied_after", "forced_apply_date", "opt_in_status", "due")


def vendor_deadlines_replace(*, read: dict[int, list[VendorAction]], sources: Iterable[str]) -> dict[str, int]:
    """Make the stored actions of the components in `read` exactly what the vendor said, in a few queries.

    A component absent from `read` keeps its rows (its actions could not be read this time). An action with no
    date (AWS lists opt-in-only actions) is no deadline and is not stored.
    """
    now = timezone.now()
    wanted = {
        (component_id, a.source, a.action[:200]): a for component_id, actions in read.items() for a in actions if a.due
    }
    stored = {
        (d.component_id, d.source, d.action): d
        for d in Deadline.objects.filter(component_id__in=list(read), source__in=list(sources))
    }
    fresh = [
        Deadline(component_id=key[0], source=key[1], action=key[2], first_seen=now, **_vendor_values(a))
        for key, a in wanted.items()
        if key not in stored
    ]
    changed = []
    for key, row in stored.items():
        if key in wanted and _vendor_values(wanted[key]) != {f: getattr(row, f) for f in VENDOR_FIELDS}:
            for name, value in _vendor_values(wanted[key]).items():
                setattr(row, name, value)
            row.proposed_start = row.proposed_end = None  # the due date moved: search again
            row.proposal_note = ""
            changed.append(row)
    gone = [row.pk for key, row in stored.items() if key not in wanted]
    Deadline.objects.bulk_create(fresh)
    Deadline.objects.bulk_update(changed, [*VENDOR_FIELDS, "proposed_start", "proposed_end", "proposal_note"])
    Deadline.objects.filter(pk__in=gone).delete()
    return {"created": len(fresh), "changed": len(changed), "gone": len(gone)}


def _vendor_values(a: VendorAction) -> dict:
    return {
        "description": a.description[:500],
        "auto_applied_after": a.auto_applied_after,
        "forced_apply_date": a.forced_apply_date,
        "opt_in_status": a.opt_in_status[:60],
        "due": a.due,
    }


# --- the end-of-life table ---------------------------------------------------------------------------


def eol_parse(text: str) -> list[EngineEndOfLife]:
    """The rows of an end-of-life file, or a ValidationError naming the line and field of the first fault."""
    if len(text) > MAX_EOL_BYTES:
        raise ValidationError(f"The file is larger than {MAX_EOL_BYTES} bytes.")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise ValidationError(f"{where}not YAML ({getattr(exc, 'problem', exc)}).") from exc
    if not isinstance(data, list) or not data:
        raise ValidationError("line 1: the file is a list of entries (engine, name, version, end_of_life, source).")
    if len(data) > MAX_EOL_ROWS:
        raise ValidationError(f"The file has {len(data)} entries; at most {MAX_EOL_ROWS}.")
    rows, seen = [], {}
    for entry, node in zip(data, root.value, strict=True):
        line = node.start_mark.line + 1
        row = _eol_row(entry, line)
        key = (row.engine, row.version)
        if key in seen:
            raise ValidationError(f"line {line}: {row.engine} {row.version} is already on line {seen[key]}.")
        seen[key] = line
        rows.append(row)
    return rows


def _eol_row(entry, line: int) -> EngineEndOfLife:
    def refuse(field: str, reason: str):
        raise ValidationError(f"line {line}, {field}: {reason}")

    if not isinstance(entry, dict):
        refuse("entry", "each entry is a mapping of engine, name, version, end_of_life, source.")
    missing, unknown = EOL_FIELDS - set(entry), set(map(str, entry)) - EOL_FIELDS
    if missing:
        refuse(sorted(missing)[0], "missing.")
    if unknown:
        refuse(sorted(unknown)[0], f"unknown field (expected {', '.join(sorted(EOL_FIELDS))}).")
    if entry["engine"] not in EOL_ENGINES:
        refuse("engine", f"“{entry['engine']}” is not an inventory engine ({', '.join(sorted(EOL_ENGINES))}).")
    version = entry["version"]
    if not isinstance(version, str) or not version or len(version) > 20 or not version.replace(".", "").isdigit():
        refuse("version", 'a quoted version such as "12" or "10.6" (a number unquoted loses its zeros: 10.10 → 10.1).')
    if not isinstance(entry["end_of_life"], date) or isinstance(entry["end_of_life"], datetime):
        refuse("end_of_life", "a date, YYYY-MM-DD.")
    if not isinstance(entry["name"], str) or not 0 < len(entry["name"]) <= 40:
        refuse("name", "a name of 1 to 40 characters.")
    try:
        URLValidator(schemes=["https", "http"])(entry["source"])
    except (ValidationError, TypeError):
        refuse("source", "the address where the date is published (https://...).")
    if len(entry["source"]) > 300:
        refuse("source", "at most 300 characters.")
    return EngineEndOfLife(
        engine=entry["engine"],
        name=entry["name"],
        version=version,
        end_of_life=entry["end_of_life"],
        source_url=entry["source"],
    )


@transaction.atomic
def eol_load(*, text: str) -> dict[str, int]:
    """Replace the table with the file's rows (all or nothing), then the end-of-life deadlines with it."""
    rows = eol_parse(text)
    stored = {(r.engine, r.version): r for r in EngineEndOfLife.objects.select_for_update()}
    wanted = {(r.engine, r.version): r for r in rows}
    fresh = [r for key, r in wanted.items() if key not in stored]
    changed = []
    for key, row in stored.items():
        new = wanted.get(key)
        if new and (row.name, row.end_of_life, row.source_url) != (new.name, new.end_of_life, new.source_url):
            row.name, row.end_of_life, row.source_url = new.name, new.end_of_life, new.source_url
            changed.append(row)
    gone = [row.pk for key, row in stored.items() if key not in wanted]
    EngineEndOfLife.objects.bulk_create(fresh)
    EngineEndOfLife.objects.bulk_update(changed, ["name", "end_of_life", "source_url"])
    EngineEndOfLife.objects.filter(pk__in=gone).delete()
    counts = {"created": len(fresh), "changed": len(changed), "deleted": len(gone)}
    return counts | {"deadlines": eol_deadlines_refresh()}


def eol_load_shipped() -> dict[str, int]:
    return eol_load(text=DEFAULT_EOL_FILE.read_text())


def _matching_eol() -> QuerySet:
    """The table's rows for OuterRef's component: same engine, version equal or a prefix up to a dot."""
    prefix = StrIndex(F("component_version"), Concat(F("version"), Value(".")))
    return (
        EngineEndOfLife.objects.filter(engine=OuterRef("engine"))
        .annotate(component_version=OuterRef("engine_version"), at=prefix)
        .filter(Q(version=OuterRef("engine_version")) | Q(at=1))
        .order_by("-version")
    )


def eol_deadlines_refresh(*, now: datetime | None = None) -> int:
    """End-of-life rows for every bastion whose engine version reaches its end within EOL_NOTICE_DAYS (or has)."""
    now = now or timezone.now()
    notice = (now + timedelta(days=EOL_NOTICE_DAYS)).date()
    matching = _matching_eol()
    bastions = (
        Component.objects.filter(mode=Mode.BASTION, managed=False)
        .exclude(engine_version="")
        .annotate(
            eol=Subquery(matching.values("end_of_life")[:1]), eol_version=Subquery(matching.values("version")[:1])
        )
        .annotate(eol_name=Subquery(matching.values("name")[:1]))
        .filter(eol__lte=notice)
        .values_list("pk", "eol", "eol_version", "eol_name")
    )
    wanted = {
        pk: (f"{name} {version} end of life", datetime.combine(day, time.min, tzinfo=UTC))
        for pk, day, version, name in bastions
    }
    stored = {d.component_id: d for d in Deadline.objects.filter(source=DeadlineSource.END_OF_LIFE)}
    fresh = [
        Deadline(component_id=pk, source=DeadlineSource.END_OF_LIFE, action=action, due=due, first_seen=now)
        for pk, (action, due) in wanted.items()
        if pk not in stored
    ]
    changed = [d for pk, d in stored.items() if pk in wanted and (d.action, d.due) != wanted[pk]]
    for d in changed:
        d.action, d.due = wanted[d.component_id]
        d.proposed_start = d.proposed_end = None
        d.proposal_note = ""
    Deadline.objects.bulk_create(fresh)
    Deadline.objects.bulk_update(changed, ["action", "due", "proposed_start", "proposed_end", "proposal_note"])
    Deadline.objects.filter(source=DeadlineSource.END_OF_LIFE).exclude(component_id__in=list(wanted)).delete()
    return len(wanted)


# --- proposals ---------------------------------------------------------------------------------------


@dataclass
class Proposal:
    start: datetime | None
    end: datetime | None
    note: str = ""


def _slot_shape(component: Component) -> tuple[time, timedelta, str]:
    """The time of day and length of the component's latest window (its cadence), else 02:00 UTC for an hour."""
    window = PatchWindow.objects.filter(components=component).order_by("-start").first()
    if window is None:
        return DEFAULT_SLOT[0], DEFAULT_SLOT[1], "UTC"
    local = window.start.astimezone(window.tz)
    return local.time().replace(tzinfo=None), window.duration, window.time_zone


def _candidates(component: Component, now: datetime, due: datetime) -> tuple[list[tuple[datetime, datetime]], str]:
    at, length, zone = _slot_shape(component)
    tz = timezone.get_fixed_timezone(0) if zone == "UTC" else PatchWindow(time_zone=zone).tz
    last = min(due, now + timedelta(days=SEARCH_DAYS)) if due > now else now + timedelta(days=SEARCH_DAYS)
    first_day = (now + timedelta(hours=12)).astimezone(tz).date()  # at least half a day's notice
    slots = []
    for offset in range(SEARCH_DAYS + 1):
        start = datetime.combine(first_day + timedelta(days=offset), at, tzinfo=tz).astimezone(UTC)
        if start + length > last:
            break
        if start > now:
            slots.append((start, start + length))
    return slots, zone


def propose(deadline: Deadline, *, now: datetime | None = None) -> Proposal:
    """The first candidate that breaks no conflict rule (warnings allowed), before the deadline and SEARCH_DAYS."""
    now = now or timezone.now()
    component = deadline.component
    if component.mode != Mode.BASTION or component.managed:
        return Proposal(None, None, "Not a self-patched bastion: no window to propose.")
    slots, zone = _candidates(component, now, deadline.due)
    skip_until = now
    for start, end in slots:
        if start < skip_until:
            continue
        draft = Draft(
            components=[component], start=start, duration=end - start, time_zone=zone, intervals=[(start, end)]
        )
        errors = [c for c in find_conflicts(draft) if c.severity == ERROR]
        if not errors:
            return Proposal(start, end)
        freezes = [c.freeze_id for c in errors if c.freeze_id]
        if freezes:  # nothing inside the freeze can pass: jump past its end at once
            skip_until = max(ChangeFreeze.objects.filter(pk__in=freezes).values_list("end", flat=True))
    limit = "the deadline" if deadline.due > now and deadline.due < now + timedelta(days=SEARCH_DAYS) else ""
    span = f"before {limit}" if limit else f"in the next {SEARCH_DAYS} days"
    return Proposal(None, None, f"No free slot {span}: every candidate is in a freeze or conflicts with a window.")


def proposals_refresh(deadlines: Iterable[Deadline], *, now: datetime | None = None) -> int:
    """Search (again) the proposal of each deadline not yet accepted; one UPDATE per row that changed."""
    now = now or timezone.now()
    count = 0
    for d in deadlines:
        if d.window_id:
            continue
        p = propose(d, now=now)
        if (d.proposed_start, d.proposed_end, d.proposal_note) != (p.start, p.end, p.note):
            d.proposed_start, d.proposed_end, d.proposal_note = p.start, p.end, p.note
            Deadline.objects.filter(pk=d.pk).update(proposed_start=p.start, proposed_end=p.end, proposal_note=p.note)
            count += 1
    return count


def stale_deadlines(*, limit: int = 500) -> QuerySet:
    """The periodic task's batch: every open deadline, soonest first (a window or freeze saved since may have
    taken its slot; accepting re-checks anyway, this keeps what pages show close to the truth)."""
    return Deadline.objects.filter(window__isnull=True).select_related("component").order_by("due", "pk")[:limit]


# --- accepting ---------------------------------------------------------------------------------------


def window_data(deadline: Deadline) -> dict:
    """The window a proposal stands for: what accept saves and what the window form is pre-filled with."""
    upgrade = deadline.source == DeadlineSource.END_OF_LIFE
    what = deadline.get_source_display()
    return {
        "title": f"{deadline.action} on {deadline.component.name}"[:200],
        "description": f"{what}: {deadline.description or deadline.action}; due {deadline.due:%Y-%m-%d}."[:2000],
        "components": [deadline.component],
        "start": deadline.proposed_start,
        "duration": deadline.proposed_end - deadline.proposed_start,
        "time_zone": "UTC",
        "rrule": "",
        "change_kind": ChangeKind.MAJOR_UPGRADE if upgrade else ChangeKind.OS_PATCH,
        "impact_kind": ImpactKind.FAILOVER_ERRORS,
    }


def deadline_accept(*, deadline_id: int, actor=None) -> PatchWindow:
    """Turn the proposal into a one-off window (checked like any window), once; audited on the deadline."""
    with transaction.atomic():
        deadline = _locked(deadline_id)
        if deadline.proposed_start is None:
            reason = deadline.proposal_note or "No proposal has been searched yet."
            raise ApplicationError(reason, errors={"deadline": [reason]}, status=409)
        from estate.patching.services import window_save  # services imports nothing of this module

        window = window_save(data=window_data(deadline), actor=actor)
        _link(deadline, window, how="Accepted the proposed window")
    return window


def deadline_link(*, deadline_id: int, window: PatchWindow) -> None:
    """A window saved from the form that "Edit first" opened answers the deadline, as an accepted one does."""
    with transaction.atomic():
        _link(_locked(deadline_id), window, how="Planned a window from the proposal, edited")


def _locked(deadline_id: int) -> Deadline:
    deadline = Deadline.objects.select_for_update(of=("self",)).select_related("component").get(pk=deadline_id)
    if deadline.window_id:
        raise ApplicationError(
            f"This deadline was already accepted: window #{deadline.window_id} covers it.",
            errors={"deadline": ["already accepted"]},
            status=409,
        )
    return deadline


def _link(deadline: Deadline, window: PatchWindow, *, how: str) -> None:
    deadline.window = window
    deadline.save(update_fields=["window", "updated_at"])
    audit_record(
        action=AuditAction.CHANGE,
        obj=deadline,
        changes={"window": [None, window.pk]},
        message=f"{how} {window.start:%Y-%m-%d %H:%M} UTC for {deadline}.",
    )
    # The component's other deadlines may have proposed the very slot just taken: search them again.
    proposals_refresh(deadline.component.deadlines.filter(window__isnull=True).select_related("component"))


# --- reading -----------------------------------------------------------------------------------------


def days_left(deadline: Deadline, now: datetime | None = None) -> int:
    return int((deadline.due - (now or timezone.now())).total_seconds() // 86400)


def proposal_text(deadline: Deadline) -> str:
    if deadline.window_id:
        return "A window was planned for it."
    if deadline.proposed_start:
        return f"Proposed window: {deadline.proposed_start:%Y-%m-%d %H:%M} UTC ({minutes(deadline)} min)."
    return deadline.proposal_note or "No proposal searched yet."


def minutes(deadline: Deadline) -> int:
    return int((deadline.proposed_end - deadline.proposed_start).total_seconds() // 60)


def component_deadlines(component: Component) -> list[Deadline]:
    """The component page's list; a deadline never searched is searched here (a handful per component)."""
    rows = list(component.deadlines.select_related("component", "window"))
    unsearched = [d for d in rows if d.proposed_start is None and not d.proposal_note and not d.window_id]
    proposals_refresh(unsearched)
    return rows


def deadlines_refresh(*, now: datetime | None = None) -> dict[str, int]:
    """The periodic pass: end-of-life rows for today, then the proposals never searched or gone stale."""
    now = now or timezone.now()
    eol = eol_deadlines_refresh(now=now)
    return {"end_of_life": eol, "proposals": proposals_refresh(stale_deadlines(), now=now)}


def proposals_search_later() -> None:
    """After the caller's commit, a worker searches the proposals (a sync must not wait on the search)."""
    from estate.patching.tasks import refresh_deadlines  # tasks imports this module

    transaction.on_commit(refresh_deadlines.delay)
