"""A fast read path for API lists: one page read with `.values_list()`, shaped by the list's own serializer.

DRF's serializers build a model object per row and walk every field through `get_attribute` and
`to_representation`: on a page of 1,000 rows that costs several times what the database and the JSON
encoder cost together. `ValuesListMixin.list` reads the same page as tuples instead and writes each row as
the serializer would, because the serializer is still the one definition of the list's fields: the plan
below is derived from its fields (their names, sources and types), so a field added to the serializer is
in the fast path too, and a serializer the plan cannot read exactly (a method field, a source that is a
Python property, a custom `to_representation`) is listed by DRF's path, unchanged.

What a plan reads, per serializer field:
- a model column or a queryset annotation, through forward foreign keys (`source="a.b"` is `a__b`);
- a related field (`component`, `SlugRelatedField(slug_field=...)`): the key or the slug, joined;
- a many-related field (`tags`): one more query per field for the whole page, in the related model's order
  (the order `prefetch_related` gives the serializer).
Values whose JSON differs from the database's value (datetimes, dates, decimals, durations ...) go through
the serializer field's own `to_representation`, so "2026-11-30T13:17:50.123456Z" reads the same.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.http import StreamingHttpResponse
from rest_framework import relations
from rest_framework import serializers as drf
from rest_framework.response import Response
from rest_framework.settings import ISO_8601, api_settings

from estate.core.renderers import JSONRenderer

# DRF fields whose representation of a database value is the value itself.
AS_IS = (drf.IntegerField, drf.FloatField, drf.BooleanField, drf.CharField, drf.ChoiceField, drf.ReadOnlyField)
# DRF fields whose representation differs: the field's own to_representation writes it.
CONVERTED = (drf.DateTimeField, drf.DateField, drf.TimeField, drf.DecimalField, drf.DurationField, drf.UUIDField)


NDJSON = "application/x-ndjson"
_LINE = JSONRenderer()
EXPORT_CHUNK = 2000  # rows a query of an export reads: a few MB of Python objects at most


class Unreadable(Exception):
    """The serializer has a field the plan cannot read from `.values_list()` exactly."""


@dataclass
class ManyField:
    index: int
    model: type[models.Model]
    owner_lookup: str  # from the related model back to the listed one
    value_lookup: str  # the related model's key or slug


@dataclass
class Plan:
    names: list[str]
    lookups: list[str]
    converters: list[tuple[int, drf.Field]] = field(default_factory=list)
    many: list[ManyField] = field(default_factory=list)
    methods: list[int] = field(default_factory=list)
    properties: dict[str, property] = field(default_factory=dict)  # model properties among the methods
    getters: dict[str, str] = field(default_factory=dict)  # method fields written by DRF's own to_representation

    def rows(self, queryset: models.QuerySet) -> models.QuerySet:
        return queryset.prefetch_related(None).values_list(*self.lookups)

    def keyed_rows(self, queryset: models.QuerySet) -> models.QuerySet:
        """The rows with their primary key last (cursor pages take their links from it)."""
        return queryset.prefetch_related(None).values_list(*self.lookups, "pk")

    def represent(self, page, serializer_of=None) -> list[dict]:
        """The page's rows as the serializer writes them; `serializer_of(objects)` for method fields."""
        writers = [(index, write) for index, column in self.converters if (write := _writer(column)) is not None]
        rows = [list(row) for row in page] if writers or self.many else list(page)  # tuples unless written
        for index, write in writers:
            for row in rows:
                if row[index] is not None:
                    row[index] = write(row[index])
        for many in self.many:
            self._fill_many(rows, many)
        names = self.names
        shaped = [dict(zip(names, row, strict=True)) for row in rows]
        if self.methods:
            self._fill_methods(shaped, [row[self.methods[0]] for row in rows], serializer_of)
        return shaped

    def _fill_methods(self, shaped: list[dict], pks: list, serializer_of) -> None:
        # The method sees the row as an object with its pk and its fields as written (not the method fields,
        # which hold the pk until written), and the context the viewset gives a page (get_serializer), so the
        # method stays the one definition of its field.
        written = frozenset(self.names[index] for index in self.methods)
        objects = [_RowObject(row, pk, written) for row, pk in zip(shaped, pks, strict=True)]
        serializer = serializer_of(objects).child
        for name in written:
            getter, prop = self.getters.get(name), self.properties.get(name)
            # A method field's get_<name>, bound once a page, is what DRF's field calls per row: the
            # serializer's other fields need not be built for it.
            write = getattr(serializer, getter) if getter else serializer.fields[name].to_representation
            for row, obj in zip(shaped, objects, strict=True):
                if prop is None:
                    row[name] = write(obj)
                else:  # the model's property, run on the row: None stays None, as in DRF
                    value = prop.fget(obj)
                    row[name] = None if value is None else write(value)

    def _fill_many(self, rows: list[list], many: ManyField) -> None:
        owners = {row[many.index] for row in rows}  # the index holds the row's pk until filled
        related: dict = {owner: [] for owner in owners}
        pairs = many.model._default_manager.filter(**{f"{many.owner_lookup}__any_of": owners})  # core.db
        for owner, value in pairs.values_list(many.owner_lookup, many.value_lookup):
            related[owner].append(value)
        for row in rows:
            row[many.index] = related[row[many.index]]


class _RowObject:
    """A shaped row read as an object (`row.name`, `row.pk`) by a method field, without copying it: the method
    fields themselves are hidden, as they hold the row's pk until written."""

    __slots__ = ("_row", "pk", "_hidden")

    def __init__(self, row: dict, pk, hidden: frozenset):
        self._row, self.pk, self._hidden = row, pk, hidden

    def __getattr__(self, name: str):
        if name not in self._hidden:
            try:
                return self._row[name]
            except KeyError:
                pass
        raise AttributeError(name)


def _writer(serializer_field: drf.Field):
    """The field's to_representation, or the same for a DRF datetime with the time zone looked up once a page
    instead of once a value (the lookup is most of DRF's cost on a page of datetimes). None when the value
    stays as it is: a datetime the database gave in UTC, shown in UTC, which the renderer writes itself
    ("2026-11-30T13:17:50.123456Z", DRF's text; estate.core.renderers)."""
    if type(serializer_field).to_representation is not drf.DateTimeField.to_representation:
        return serializer_field.to_representation
    if type(serializer_field).enforce_timezone is not drf.DateTimeField.enforce_timezone:
        return serializer_field.to_representation
    output_format = getattr(serializer_field, "format", api_settings.DATETIME_FORMAT)
    if output_format is None or output_format.lower() != ISO_8601 or not settings.USE_TZ:
        return serializer_field.to_representation
    zone = getattr(serializer_field, "timezone", None) or serializer_field.default_timezone()
    if getattr(zone, "key", None) == "UTC" or zone is dt.UTC:
        return None  # Django reads timestamps as aware UTC datetimes

    def iso(value):
        if isinstance(value, str) or value.tzinfo is None:
            return serializer_field.to_representation(value)
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return iso


def plan_for(serializer_class, queryset: models.QuerySet, methods: frozenset = frozenset()) -> Plan | None:
    """The plan that reads `serializer_class`'s fields from `queryset`, or None when one cannot be read exactly.

    `methods` names the method fields (and fields whose source is a model property) that read only the row's
    pk and fields, and the serializer's context.
    """
    if not issubclass(serializer_class, drf.ModelSerializer):
        return None
    # Fields picked per request (get_fields) or rows written another way (to_representation): DRF's path.
    if serializer_class.get_fields is not drf.ModelSerializer.get_fields:
        return None
    if serializer_class.to_representation is not drf.Serializer.to_representation:
        return None
    return _cached_plan(serializer_class, queryset.model, frozenset(queryset.query.annotations), methods)


@lru_cache(maxsize=256)  # bounded: a serializer class made per request must not grow it forever
def _cached_plan(serializer_class, model, annotations: frozenset, methods: frozenset) -> Plan | None:
    return _build(serializer_class(), model, annotations, methods)


def _build(serializer, model, annotations: frozenset, methods: frozenset) -> Plan | None:
    plan = Plan(names=[], lookups=[])
    try:
        for name, serializer_field in serializer.fields.items():
            if serializer_field.write_only:
                continue
            prop = _property(model, serializer_field)
            if name in methods and (isinstance(serializer_field, drf.SerializerMethodField) or prop):
                if prop:
                    plan.properties[name] = prop
                elif type(serializer_field).to_representation is drf.SerializerMethodField.to_representation:
                    plan.getters[name] = serializer_field.method_name
                plan.methods.append(len(plan.names))
                plan.names.append(name)
                plan.lookups.append("pk")  # the row's pk until the method writes the field
                continue
            _add(plan, name, serializer_field, model, annotations)
    except Unreadable:
        return None
    return plan


def _property(model, serializer_field) -> property | None:
    source = serializer_field.source_attrs
    prop = getattr(model, source[0], None) if len(source) == 1 else None
    return prop if isinstance(prop, property) else None


def _add(plan: Plan, name: str, serializer_field, model, annotations: frozenset) -> None:
    index = len(plan.names)
    plan.names.append(name)
    source = serializer_field.source_attrs
    if not source:  # source="*": the whole object
        raise Unreadable(name)
    if isinstance(serializer_field, relations.ManyRelatedField):
        plan.lookups.append("pk")
        plan.many.append(_many(model, source, serializer_field.child_relation))
        plan.many[-1].index = index
        return
    if isinstance(serializer_field, relations.RelatedField):
        plan.lookups.append(_related_lookup(model, source, serializer_field))
        return
    if isinstance(serializer_field, CONVERTED) or _list_of_values(serializer_field):
        plan.converters.append((index, serializer_field))
    elif not _as_is(serializer_field):
        raise Unreadable(name)
    if len(source) == 1 and source[0] in annotations:
        plan.lookups.append(source[0])
        return
    plan.lookups.append(_column_lookup(model, source))


def _list_of_values(serializer_field) -> bool:
    """A ListField of plain values (a JSON column holding a list): written by the field itself."""
    if not isinstance(serializer_field, drf.ListField):
        return False
    child = serializer_field.child
    return isinstance(child, CONVERTED) or _as_is(child)


def _as_is(serializer_field) -> bool:
    if isinstance(serializer_field, drf.JSONField):
        return not serializer_field.binary
    return isinstance(serializer_field, AS_IS) and not isinstance(serializer_field, drf.MultipleChoiceField)


def _column_lookup(model, source: list[str]) -> str:
    """`a__b__c` for source a.b.c: foreign keys forward, then a column (never a many relation)."""
    for step in source[:-1]:
        model = _forward(model, step)
    try:
        column = model._meta.get_field(source[-1])
    except FieldDoesNotExist as exc:
        raise Unreadable(".".join(source)) from exc
    if column.is_relation or not column.concrete:
        raise Unreadable(".".join(source))
    return "__".join(source)


def _forward(model, name: str):
    try:
        relation = model._meta.get_field(name)
    except FieldDoesNotExist as exc:
        raise Unreadable(name) from exc
    if not (relation.many_to_one or relation.one_to_one) or not relation.concrete:
        raise Unreadable(name)
    return relation.related_model


def _related_lookup(model, source: list[str], related_field) -> str:
    for step in source[:-1]:
        model = _forward(model, step)
    target = _forward(model, source[-1])
    path = "__".join(source)
    if _is_pk_field(related_field):
        return f"{path}__pk"  # Django reads the foreign key's own column, without a join
    slug = getattr(related_field, "slug_field", None)
    if isinstance(related_field, relations.SlugRelatedField) and slug:
        _column_lookup(target, slug.split("__"))
        return f"{path}__{slug}"
    raise Unreadable(path)


def _is_pk_field(related_field) -> bool:
    return isinstance(related_field, relations.PrimaryKeyRelatedField) and related_field.pk_field is None


def _many(model, source: list[str], child) -> ManyField:
    if len(source) != 1:
        raise Unreadable(".".join(source))
    try:
        relation = model._meta.get_field(source[0])
    except FieldDoesNotExist as exc:
        raise Unreadable(source[0]) from exc
    if not isinstance(relation, models.ManyToManyField):  # forward only: a reverse relation has no order of its own
        raise Unreadable(source[0])
    if _is_pk_field(child):
        value = "pk"
    elif isinstance(child, relations.SlugRelatedField):
        value = child.slug_field
    else:
        raise Unreadable(source[0])
    return ManyField(index=-1, model=relation.related_model, owner_lookup=relation.related_query_name(),
                     value_lookup=value)  # fmt: skip


class CountedApart:
    """A page's rows read through a plan, counted on the list's own queryset.

    The plan's lookups join what the rows show (an environment's slug, a team's ...), and a COUNT(*) of
    the plan's query would keep those joins for every row of the table: counting the list's queryset is
    the same number without them (forward foreign keys never add or drop a row). Cursor pages read `keyed`:
    the rows with their key last.
    """

    def __init__(self, rows: models.QuerySet, counted: models.QuerySet, keyed: models.QuerySet):
        self.rows, self.counted, self.keyed = rows, counted, keyed

    @property
    def ordered(self) -> bool:
        return self.rows.ordered

    def count(self) -> int:
        return self.counted.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, window):
        return self.rows[window]


class ValuesListMixin:
    """`list` through the plan of the list's serializer (see the module); DRF's own path when there is none.

    Responses are the same JSON either way (tests/api/test_speed_contract.py compares them per endpoint).
    `API_VALUES_LISTS = False` in settings turns the fast path off. `values_method_fields` names the
    serializer's method fields that read only the row's pk and fields and the serializer's context: they are
    called with the row as an object, the context being what `get_serializer` gives the page. A field whose
    source is a model property may be named too: the property runs on the row, read as such an object.
    """

    values_method_fields: tuple[str, ...] = ()
    export_ndjson = False  # ?format=ndjson streams every matching row (README, "The REST API")

    def perform_content_negotiation(self, request, force=False):
        if self._exporting(request):
            return self.get_renderers()[0], "application/json"  # errors before the stream are JSON
        return super().perform_content_negotiation(request, force)

    def _exporting(self, request) -> bool:
        return self.export_ndjson and self.action == "list" and request.query_params.get("format") == "ndjson"

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        fast = getattr(settings, "API_VALUES_LISTS", True)
        methods = frozenset(self.values_method_fields)
        plan = plan_for(self.get_serializer_class(), queryset, methods) if fast else None
        if self._exporting(request):
            return StreamingHttpResponse(self._ndjson(queryset, plan), content_type=NDJSON)
        if plan is None:
            return super().list(request, *args, **kwargs)
        page = self.paginate_queryset(CountedApart(plan.rows(queryset), queryset, plan.keyed_rows(queryset)))
        if page is None:
            return Response(plan.represent(plan.rows(queryset), self._page_serializer))
        return self.get_paginated_response(plan.represent(page, self._page_serializer))

    def _page_serializer(self, objects: list):
        return self.get_serializer(objects, many=True)

    def _ndjson(self, queryset: models.QuerySet, plan: Plan | None):
        """Every row of `queryset`, one JSON object a line, read in chunks of EXPORT_CHUNK keyed on the pk
        (each chunk one indexed query from where the last ended): memory holds one chunk, whatever the total."""
        keyed = queryset.prefetch_related(None).order_by("pk")
        rows = keyed.values_list("pk", *plan.lookups) if plan else keyed
        after = None
        while True:
            chunk = list((rows if after is None else rows.filter(pk__gt=after))[:EXPORT_CHUNK])
            if not chunk:
                return
            if plan:
                after, shaped = chunk[-1][0], plan.represent([row[1:] for row in chunk], self._page_serializer)
            else:
                after, shaped = chunk[-1].pk, self.get_serializer(chunk, many=True).data
            yield b"".join(_LINE.render(row) + b"\n" for row in shaped)
            if len(chunk) < EXPORT_CHUNK:
                return
