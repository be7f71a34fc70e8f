"""What every app's API shares: pagination and one shape for errors."""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from estate.core.errors import ApplicationError, in_use_message


class Pagination(PageNumberPagination):
    """Page numbers from 1 and page sizes from 1 to max_page_size, as the schema says; anything else is a
    400 naming the parameter (a page past the last one is a 404), never quietly the default."""

    page_size_query_param = "page_size"
    max_page_size = 1000
    last_page_strings = ()  # the schema says page is an integer

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        return _whole_number(raw, self.page_size_query_param, self.max_page_size)

    def get_page_number(self, request, paginator=None) -> int:
        return _whole_number(request.query_params.get(self.page_query_param, "1"), self.page_query_param)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.page_query_param: {"minimum": 1},
            self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size, "default": self.page_size},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters


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
