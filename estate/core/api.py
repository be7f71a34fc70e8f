"""What every app's API shares: pagination and one shape for errors."""

from __future__ import annotations

import base64
import binascii
import re

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import exception_handler as drf_exception_handler

from estate.core.errors import ApplicationError, in_use_message


class Pagination(PageNumberPagination):
    """Page numbers from 1 and page sizes from 1 to max_page_size, as the schema says; anything else is a
    400 naming the parameter (a page past the last one is a 404), never quietly the default.

    `pagination=cursor` pages by key instead (keyset pagination): rows in id order, oldest first, each page
    read from where the last ended through the primary key's index, and no `count` (counting the whole list
    is what a page number costs, on every page). Scripts reading a large list in full page this way; the
    `next` link carries the cursor, and a saved cursor also picks up rows created after it was given.
    """

    page_size_query_param = "page_size"
    max_page_size = 1000
    last_page_strings = ()  # the schema says page is an integer
    mode_query_param = "pagination"
    cursor_query_param = "cursor"
    cursor_paging = True  # False where the rows are not a queryset (findings)
    max_offset = 100_000  # rows before a numbered page (GitLab bounds offset pages the same way)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.cursor_mode = self.by_cursor(request)
        if not self.cursor_mode:
            return super().paginate_queryset(queryset, request, view)
        return self._keyset_page(queryset, request)

    def by_cursor(self, request) -> bool:
        """Whether the request pages by cursor; a 400 naming the parameter for a mix that means nothing."""
        params = request.query_params
        mode = params.get(self.mode_query_param)
        if mode not in (None, "page", "cursor"):
            raise _invalid(self.mode_query_param, f"'page' or 'cursor' is expected, not {mode!r}.")
        cursor = mode == "cursor" or (mode is None and self.cursor_query_param in params)
        if not cursor:
            if self.cursor_query_param in params:
                raise _invalid(self.cursor_query_param, "A cursor goes with pagination=cursor, not page numbers.")
            return False
        if not self.cursor_paging:
            raise _invalid(self.mode_query_param, "This list is paged by page number only.")
        for name, why in (
            (self.page_query_param, "Cursor pages have no numbers: follow next."),
            ("ordering", "Cursor pages are in id order; leave out ordering, or page by number."),
        ):
            if name in params:
                raise _invalid(name, why)
        return True

    def _keyset_page(self, queryset, request) -> list:
        """One query from the cursor's key, in key order, with a LIMIT (the plan the database starts fast).

        `queryset` is model objects, or a values() plan's rows (listing.CountedApart) whose `keyed` rows
        carry the key last, so the page's links come from the rows the page shows, read at one moment."""
        size = self.get_page_size(request)
        raw = request.query_params.get(self.cursor_query_param)
        forward, key = (True, None) if raw is None else _read_cursor(raw, self.cursor_query_param)
        keyed = getattr(queryset, "keyed", None)
        ordered = (queryset if keyed is None else keyed).order_by("pk" if forward else "-pk")
        if key is not None:
            ordered = ordered.filter(pk__gt=key) if forward else ordered.filter(pk__lt=key)
        page = list(ordered[: size + 1])
        more, page = len(page) > size, page[:size]
        if not forward:
            page.reverse()
        self.page_keys = [row.pk for row in page] if keyed is None else [row[-1] for row in page]
        self.has_next = bool(page) and (more if forward else True)
        self.has_previous = bool(page) and (key is not None if forward else more)
        return page if keyed is None else [row[:-1] for row in page]

    def get_paginated_response(self, data):
        if not getattr(self, "cursor_mode", False):
            return super().get_paginated_response(data)
        return Response({"next": self._cursor_link("after", -1), "previous": self._cursor_link("before", 0),
                         "results": data})  # fmt: skip

    def _cursor_link(self, direction: str, end: int) -> str | None:
        if not (self.has_next if direction == "after" else self.has_previous):
            return None
        token = base64.urlsafe_b64encode(f"{direction}:{self.page_keys[end]}".encode()).decode().rstrip("=")
        return replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, token)

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        return _whole_number(raw, self.page_size_query_param, self.max_page_size)

    def get_page_number(self, request, paginator=None) -> int:
        number = _whole_number(request.query_params.get(self.page_query_param, "1"), self.page_query_param)
        # A page deep in a large list is an OFFSET the database reads and throws away row by row: past
        # max_offset rows, cursor pages read the same rows by key instead.
        if self.cursor_paging and (number - 1) * self.get_page_size(request) >= self.max_offset:
            raise _invalid(self.page_query_param, f"Pages by number start at most {self.max_offset:,} rows in; "
                                                  "read further with pagination=cursor.")  # fmt: skip
        return number

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.page_query_param: {"minimum": 1},
            self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size, "default": self.page_size},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
            if parameter["name"] == self.page_query_param and self.cursor_paging:
                parameter["description"] = (
                    f"A page number, from 1; pages start at most {self.max_offset:,} rows in "
                    "(page_size x (page - 1)): read further with pagination=cursor."
                )
        if self.cursor_paging:
            parameters += [
                {"name": self.mode_query_param, "required": False, "in": "query",
                 "description": "cursor: page by key, in id order, without count (for reading a large list in "
                                "full); page (the default): by page number.",
                 "schema": {"type": "string", "enum": ["page", "cursor"], "default": "page"}},
                {"name": self.cursor_query_param, "required": False, "in": "query",
                 "description": "Where a cursor page starts: the value in the next or previous link.",
                 "schema": {"type": "string"}},
            ]  # fmt: skip
        return parameters

    def get_paginated_response_schema(self, schema) -> dict:
        envelope = super().get_paginated_response_schema(schema)
        if self.cursor_paging:
            envelope["required"] = ["results"]
            envelope["properties"]["count"]["description"] = "Every matching row; absent with pagination=cursor."
        return envelope


BIGGEST_KEY = 2**63 - 1  # a bigint: past it the database refuses the comparison
_CURSOR = re.compile(r"(after|before):([0-9]{1,19})")


def _read_cursor(raw: str, name: str) -> tuple[bool, int]:
    """(forward, key) from a cursor this API wrote; anything else is a 400 naming the parameter."""
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        text = ""
    match = _CURSOR.fullmatch(text) if len(raw) <= 64 else None
    if match is None or int(match[2]) > BIGGEST_KEY:
        raise _invalid(name, "Not a cursor this API gave: start again without it, or follow next.")
    return match[1] == "after", int(match[2])


def _invalid(name: str, message: str) -> exceptions.ValidationError:
    return exceptions.ValidationError({name: [message]})


def _whole_number(raw: str, name: str, maximum: int | None = None) -> int:
    digits = raw.lstrip("0") if raw.isascii() and raw.isdigit() else ""
    # Past 19 digits no page exists (and int() refuses past 4,300): the number stands for "too far".
    value = (int(digits) if len(digits) <= 19 else 10**19) if digits else 0
    if value < 1 or (maximum is not None and value > maximum):
        bound = f"from 1 to {maximum}" if maximum else "from 1"
        raise exceptions.ValidationError({name: [f"A whole number {bound} is expected, not {raw!r}."]})
    return value


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than the server accepts."
    default_code = "payload_too_large"


class InUse(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Other records still use this one; remove or reassign them first."
    default_code = "in_use"


# Seconds a client waits before it retries a request the database could not serve.
DATABASE_RETRY_AFTER = 2


class DatabaseUnavailable(exceptions.APIException):
    """The database is restarting or unreachable: the client sends the same request again later."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The database is unavailable for the moment; retry shortly."
    default_code = "database_unavailable"
    wait = DATABASE_RETRY_AFTER  # drf_exception_handler sends it as Retry-After


def _in_use(exc: ProtectedError | RestrictedError) -> InUse:
    return InUse(in_use_message(exc))


def _as_error_dict(detail) -> dict:
    """DRF's error detail as {field: [messages]}, keeping list indexes for bulk requests."""
    if isinstance(detail, dict):
        # DRF keys a list's errors by the item's index (an int): an item's errors are always {field: [...]},
        # even when the item itself was refused (null), whose detail is a bare list of messages.
        return {
            _field_name(key): _as_error_dict(value) if isinstance(key, int) else _as_error_list(value)
            for key, value in detail.items()
        }
    if isinstance(detail, list) and any(isinstance(item, dict) for item in detail):
        return {str(i): _as_error_dict(item) for i, item in enumerate(detail) if item}
    return {"non_field_errors": _as_error_list(detail)}


def _field_name(key) -> str:
    # Django's model validation files rules of several fields under "__all__"; DRF says non_field_errors.
    return "non_field_errors" if key == NON_FIELD_ERRORS else str(key)


def _as_error_list(value):
    if isinstance(value, dict):
        return _as_error_dict(value)
    if isinstance(value, list):
        if any(isinstance(item, dict) for item in value):
            return _as_error_dict(value)
        return [_text(item) for item in value]
    return [_text(value)]


def _text(value) -> str:
    """A message as text the JSON renderer can encode: DRF's messages quote the input, which may hold a
    lone surrogate (JSON's "\\ud800"); UTF-8 cannot encode one, so it is written as its escape instead."""
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


def _summary(errors: dict) -> str:
    for field, messages in errors.items():
        first = messages if isinstance(messages, list) else next(iter(messages.values()), "")
        text = first[0] if isinstance(first, list) and first else first
        if isinstance(text, (list, dict)):
            return "The request has invalid fields."
        return f"{field}: {text}" if field != "non_field_errors" else _text(text)
    return "Invalid request."


def exception_handler(exc, context):
    """Every error leaves the API as {"detail": str, "errors": {field: [str]}}."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, ApplicationError):
        return Response({"detail": _text(exc.message), "errors": _as_error_dict(exc.errors)}, status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, (ProtectedError, RestrictedError)):
        exc = _in_use(exc)
    elif isinstance(exc, (OperationalError, InterfaceError)):
        # The transaction the connection was in is rolled back whole, so the request can be sent again.
        exc = DatabaseUnavailable()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = _as_error_dict(exc.detail)
        response.data = {"detail": _summary(errors), "errors": errors}
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": _text(response.data["detail"]), "errors": {}}
    return response


def payload_too_large(limit: int) -> Response:
    return Response(
        {"detail": f"At most {limit} items per request.", "errors": {}},
        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    )
