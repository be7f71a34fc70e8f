from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from estate.core.listing import ValuesListMixin
from estate.core.viewsets import ModelPermissions, ServiceModelViewSet
from estate.inventory.models import Component
from estate.patching import deadlines, ical, selectors, services
from estate.patching.api import serializers
from estate.patching.filters import DeadlineFilterSet
from estate.patching.models import ChangeFreeze, Deadline, FeedToken, Occurrence, PatchWindow
from estate.patching.recurrence import EARLIEST, HORIZON_YEARS, check_moment, moment_bounds, wall_clock

MAX_RANGE = timedelta(days=400)
# Values at the edges, so a schema-driven test (schemathesis's examples phase) reaches them: dates near
# year 1 and 9999, an offset PostgreSQL cannot store, a NUL byte. Each is a 400 naming the parameter.
EDGE_MOMENTS = {
    "a day": "2027-03-02",
    "a UTC time": "2027-03-02T12:00:00Z",
    "year 1": "0001-01-01T00:00:00Z",
    "year 1 west of UTC": "0001-01-01T00:00:00-05:00",
    "year 9999": "9999-12-31T23:00:00Z",
    "an offset of 23 hours": "2027-03-02T12:00:00+23:00",
}
NUL = "a\x00b"
FILTER_PARAMS = [
    OpenApiParameter(
        name,
        str,
        required=False,
        examples=[OpenApiExample("none", value=""), OpenApiExample("NUL byte (refused)", value=NUL)],
    )
    for name in ("environment", "system", "team", "component", "change_kind")
]


def _moment_param(name: str) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        str,
        required=True,
        description=f"ISO 8601 date or date-time (a date is midnight UTC), between {EARLIEST:%Y-%m-%d} and "
        f"{HORIZON_YEARS} years from now; the range spans at most 400 days.",
        examples=[OpenApiExample(label, value=value) for label, value in EDGE_MOMENTS.items()],
    )


def query_filters(params) -> dict:
    filters = {name: params.get(name) for name in services.FEED_FILTERS if params.get(name)}
    if bad := sorted(name for name, value in filters.items() if "\x00" in value):
        # PostgreSQL cannot compare text holding a NUL byte: refused here, not a DataError later.
        raise ValidationError({name: ["A filter value may not contain a NUL byte."] for name in bad})
    return filters


def query_range(params) -> tuple[datetime, datetime]:
    """?start=&end= (ISO 8601; a date means midnight UTC), at most 400 days apart."""
    bounds = []
    for name in ("start", "end"):
        raw = (params.get(name) or "").replace(" ", "+")
        value = _parsed(raw) or (_parsed(raw + "T00:00:00") if len(raw) == 10 else None)
        if value is None:
            raise ValidationError({name: ["Give an ISO 8601 date or date-time."]})
        # In UTC: PostgreSQL refuses offsets past ±15:59 (+23:00 was a DataError, a 500).
        bounds.append(_in_range(value if value.tzinfo else value.replace(tzinfo=UTC), name))
    if not bounds[0] < bounds[1] or bounds[1] - bounds[0] > MAX_RANGE:
        raise ValidationError({"end": ["The range ends after it starts and spans at most 400 days."]})
    return bounds[0], bounds[1]


def _parsed(raw: str) -> datetime | None:
    try:
        return parse_datetime(raw)
    except ValueError:  # well formed, but no such day or hour: 2026-13-45
        return None


def _in_range(value: datetime, name: str) -> datetime:
    try:
        value = value.astimezone(UTC)
        check_moment(value, name)
    except (OverflowError, DjangoValidationError):  # OverflowError: year 1 west of UTC, 9999 east of it
        raise ValidationError({name: [moment_bounds()]}) from None
    return value


def occurrence_by_key(key: str, *, store: bool = True) -> Occurrence:
    """The occurrence `<window id>-<epoch of its original start>`: its stored row, created on first use by
    an action (store); a read gets an unsaved one instead, so looking at an occurrence changes nothing."""
    window_id, _, epoch = key.partition("-")
    if not (window_id.isdigit() and epoch.isdigit()):
        # Http404, not DRF's NotFound: the browser views share this lookup.
        raise Http404("Occurrence keys look like <window id>-<epoch seconds>.")
    try:
        original_start = datetime.fromtimestamp(int(epoch), tz=UTC)
    except (OverflowError, OSError, ValueError):
        # Digits, but past what a datetime holds: no window ever started then.
        raise Http404("No occurrence starts at that epoch.") from None
    window = get_object_or_404(PatchWindow, pk=int(window_id))
    if store:
        return services.occurrence_materialise(window, original_start)
    row = selectors.occurrence_row(window, original_start)
    if row is None:
        raise Http404("The window has no occurrence starting at that time.")
    return row


class PatchWindowViewSet(ValuesListMixin, viewsets.ModelViewSet):
    """Patch windows. Writes are checked against the conflict rules (409 with the conflicts)."""

    serializer_class = serializers.PatchWindowSerializer
    values_method_fields = ("warnings",)  # a listed window has none: they are the answer to a save
    permission_classes = [ModelPermissions]
    queryset = PatchWindow.objects.none()

    def get_queryset(self):
        return selectors.window_list(query_filters(self.request.query_params)).order_by("start", "pk")

    @extend_schema(parameters=FILTER_PARAMS)
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def perform_create(self, serializer):
        serializer.instance = services.window_save(data=serializer.validated_data, actor=self.request.user)

    def perform_update(self, serializer):
        serializer.instance = services.window_save(window=serializer.instance, data=serializer.validated_data)

    def perform_destroy(self, instance):
        services.window_delete(window=instance)

    @extend_schema(request=None, responses=serializers.PatchWindowSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        window = services.window_set_paused(window=self.get_object(), paused=True)
        return Response(self.get_serializer(window).data)

    @extend_schema(request=None, responses=serializers.PatchWindowSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        window = services.window_set_paused(window=self.get_object(), paused=False)
        return Response(self.get_serializer(window).data)

    @extend_schema(request=serializers.PatchWindowDraftSerializer, responses=serializers.ConflictSerializer(many=True))
    @action(
        detail=False,
        methods=["post"],
        url_path="conflicts-check",
        permission_classes=[permissions.IsAuthenticated],
        pagination_class=None,  # the answer is a plain list, and the schema says so (no page parameters)
    )
    def conflicts_check(self, request):
        """POST a draft window (or a change to one), get back the conflicts it would meet."""
        draft = serializers.PatchWindowDraftSerializer(data=request.data)
        draft.is_valid(raise_exception=True)
        data = dict(draft.validated_data)
        window = data.pop("window", None)
        if not window and not all(name in data for name in ("start", "duration", "components")):
            raise ValidationError({"non_field_errors": ["A new window needs components, start and duration."]})
        conflicts = services.window_check(data=data, window=window)
        return Response([c.as_dict() for c in conflicts])


class OccurrenceViewSet(viewsets.GenericViewSet):
    """Occurrences of every window over a range (?start=&end=), stored or not; actions by key."""

    serializer_class = serializers.OccurrenceSerializer
    queryset = Occurrence.objects.none()
    # The id is the occurrence's key, "<window id>-<epoch of its original start>": stable before
    # and after the occurrence is stored, so a calendar event and the API name it the same way.
    lookup_field = "key"
    lookup_url_kwarg = "id"
    lookup_value_regex = r"\d+-\d+"
    pagination_class = None

    @extend_schema(parameters=[_moment_param("start"), _moment_param("end"), *FILTER_PARAMS])
    def list(self, request):
        start, end = query_range(request.query_params)
        windows = selectors.active_in(selectors.window_list(query_filters(request.query_params)), start, end)
        return Response(self.get_serializer(selectors.occurrences_between(windows, start, end), many=True).data)

    def retrieve(self, request, id=None):
        return Response(self._data(occurrence_by_key(id, store=False)))

    def _data(self, row: Occurrence) -> dict:
        view = selectors.occurrence_find(row.window, row.original_start)
        return self.get_serializer(view).data

    def _act(self, request, key: str, do, status_code=status.HTTP_200_OK):
        if not request.user.has_perm("patching.change_occurrence"):
            self.permission_denied(request, message="You may not act on occurrences.")
        with transaction.atomic():  # a refused action (403, 409) leaves no stored row behind either
            row = do(occurrence_by_key(key))
        return Response(self._data(row), status=status_code)

    def _notes(self, request) -> str:
        body = serializers.OccurrenceActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return body.validated_data["notes"]

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def start(self, request, id=None):
        return self._act(request, id, lambda o: services.occurrence_start(occurrence=o, actor=request.user))

    @extend_schema(request=serializers.OccurrenceActionSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, id=None):
        body = serializers.OccurrenceActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._act(
            request, id, lambda o: services.occurrence_close(occurrence=o, actor=request.user, **body.validated_data)
        )

    @extend_schema(request=serializers.OccurrenceActionSerializer)
    @action(detail=True, methods=["post"])
    def skip(self, request, id=None):
        notes = self._notes(request)
        return self._act(request, id, lambda o: services.occurrence_skip(occurrence=o, actor=request.user, notes=notes))

    @extend_schema(request=serializers.OccurrenceActionSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, id=None):
        notes = self._notes(request)
        return self._act(
            request, id, lambda o: services.occurrence_skip(occurrence=o, actor=request.user, notes=notes, cancel=True)
        )

    @extend_schema(request=serializers.OccurrenceMoveSerializer)
    @action(detail=True, methods=["post"])
    def move(self, request, id=None):
        body = serializers.OccurrenceMoveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        start = body.validated_data["start"]
        return self._act(
            request,
            id,
            lambda o: services.occurrence_move(
                occurrence=o, start=wall_clock(start, o.window.time_zone, "start"), actor=request.user
            ),
        )

    @extend_schema(request=serializers.OccurrenceActionSerializer)
    @action(detail=True, methods=["post"])
    def tick(self, request, id=None):
        body = serializers.OccurrenceActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        steps = body.validated_data.get("steps_done", [])
        return self._act(request, id, lambda o: services.occurrence_tick(occurrence=o, steps_done=steps))


class ChangeFreezeViewSet(ServiceModelViewSet):
    queryset = ChangeFreeze.objects.select_related("environment", "system")
    serializer_class = serializers.ChangeFreezeSerializer

    @extend_schema(request={"multipart/form-data": serializers.FreezeImportSerializer}, responses=dict)
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser])
    def import_ics(self, request):
        """Import change freezes from an .ics file (multipart field `file`)."""
        if not request.user.has_perm("patching.add_changefreeze"):
            self.permission_denied(request)
        body = serializers.FreezeImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        counts = ical.freezes_import(
            content=data["file"].read(),
            scope=data.get("scope", "all"),
            environment=data.get("environment"),
            system=data.get("system"),
        )
        return Response(counts, status=status.HTTP_201_CREATED)


class FeedTokenViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Your iCalendar feeds. The address (its secret) is shown once, on create; revoke a feed and it stops working."""

    serializer_class = serializers.FeedTokenSerializer
    queryset = FeedToken.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return FeedToken.objects.none()
        return FeedToken.objects.filter(user=self.request.user).select_related("api_token")

    @extend_schema(
        responses={201: serializers.FeedTokenCreatedSerializer},
        examples=[
            OpenApiExample("team web", value={"name": "Team web", "filters": {"team": "web"}}, request_only=True),
            OpenApiExample("NUL byte (refused)", value={"name": "Odd", "filters": {"team": NUL}}, request_only=True),
        ],
    )
    def create(self, request):
        body = serializers.FeedTokenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        feed = services.feed_token_create(
            user=request.user, name=data.get("name", ""), filters=data.get("filters") or {}
        )
        created = serializers.FeedTokenCreatedSerializer(feed, context=self.get_serializer_context())
        return Response(created.data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = services.feed_token_revoke(token=self.get_object())
        return Response(self.get_serializer(token).data)


# --- the change calendar, for deploy pipelines ---------------------------------------------------

COMPONENT_REFERENCE = "A component's id, or environment/slug (e.g. production/cart-api)."
MAX_REFERENCE = 201  # an environment slug, "/", a component slug
MAX_ID = 2**63 - 1  # past a bigint PostgreSQL cannot compare: no such component
CALENDAR_PARAMS = [
    OpenApiParameter(
        "component",
        str,
        required=True,
        description=COMPONENT_REFERENCE,
        examples=[
            OpenApiExample("environment/slug", value="production/cart-api"),
            OpenApiExample("id", value="1"),
            OpenApiExample("NUL byte (refused)", value=NUL),
        ],
    ),
    OpenApiParameter(
        "at",
        str,
        required=False,
        description="ISO 8601 date-time to ask about instead of now (a date is midnight UTC).",
        examples=[OpenApiExample(label, value=value) for label, value in EDGE_MOMENTS.items()],
    ),
]


def component_by_reference(raw: str | None) -> Component:
    """?component=<id> or <environment>/<slug>: 400 when malformed, 404 when no such component."""
    raw = (raw or "").strip()
    if not raw or len(raw) > MAX_REFERENCE or "\x00" in raw:
        raise ValidationError({"component": [COMPONENT_REFERENCE]})
    if raw.isascii() and raw.isdigit():
        found = Component.objects.filter(pk=int(raw)).first() if int(raw) <= MAX_ID else None
    else:
        environment, _, slug = raw.partition("/")
        if not environment or not slug or "/" in slug:
            raise ValidationError({"component": [COMPONENT_REFERENCE]})
        found = Component.objects.filter(environment__slug=environment, slug=slug).first()
    if found is None:
        raise NotFound(f"No component {raw!r}.")
    return found


def query_moment(params, name: str) -> datetime | None:
    raw = (params.get(name) or "").replace(" ", "+")
    if not raw:
        return None
    try:
        value = parse_datetime(raw) or (parse_datetime(raw + "T00:00:00") if len(raw) == 10 else None)
    except ValueError:  # well formed but no such moment (month 13)
        value = None
    if value is None:
        raise ValidationError({name: ["Give an ISO 8601 date or date-time."]})
    return _in_range(value if value.tzinfo else value.replace(tzinfo=UTC), name)


class CalendarViewSet(viewsets.GenericViewSet):
    """The change calendar: whether a component may change, for pipelines to ask before they ship."""

    serializer_class = serializers.CalendarStateSerializer
    queryset = Component.objects.none()
    pagination_class = None

    @extend_schema(
        parameters=CALENDAR_PARAMS,
        responses={
            200: serializers.CalendarStateSerializer,
            404: OpenApiResponse({"$ref": "#/components/schemas/Error"}, description="No such component."),
        },
    )
    @action(detail=False, methods=["get"])
    def state(self, request):
        """OPEN or CLOSED for one component, now or at ?at=, with the reason, the freeze and the next change.

        A deploy gate: `... | jq -e '.state == "OPEN"'` fails the pipeline while a freeze holds.
        """
        component = component_by_reference(request.query_params.get("component"))
        at = query_moment(request.query_params, "at") or timezone.now()
        calendar = selectors.calendar_state(component, at)
        data = {
            "component": component.pk,
            "at": at,
            "state": calendar.state,
            "reason": calendar.reason,
            "freeze": calendar.freeze,
            "next_change": calendar.next_change,
        }
        return Response(self.get_serializer(data).data)


class DeadlineViewSet(viewsets.ReadOnlyModelViewSet):
    """Deadlines set by others (RDS pending maintenance, ElastiCache service updates, engine end of life),
    each with the proposed window; `accept` turns the proposal into a one-off window (201), once (409 after)."""

    serializer_class = serializers.DeadlineSerializer
    permission_classes = [ModelPermissions]
    filterset_class = DeadlineFilterSet
    queryset = Deadline.objects.select_related("component").order_by("due", "pk")

    @extend_schema(
        request=None,
        responses={201: serializers.PatchWindowSerializer, 409: OpenApiResponse(description="Already accepted, no "
                   "proposal, or the slot now conflicts: the reason in detail.")},
    )  # fmt: skip
    @action(detail=True, methods=["post"], permission_classes=[permissions.IsAuthenticated])
    def accept(self, request, pk=None):  # planning a window: patch windows' permission, not deadlines' own
        if not request.user.has_perm("patching.add_patchwindow"):
            self.permission_denied(request, message="You may not plan patch windows.")
        deadline = self.get_object()
        window = deadlines.deadline_accept(deadline_id=deadline.pk, actor=request.user)
        return Response(serializers.PatchWindowSerializer(window).data, status=status.HTTP_201_CREATED)
