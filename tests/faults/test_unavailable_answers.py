"""What a request gets while the database or Redis is unreachable: a retryable 503, or a cache miss."""

from __future__ import annotations

import json

import pytest
from django.db import InterfaceError, OperationalError
from django.test import RequestFactory
from rest_framework.views import APIView

from estate.core.api import DATABASE_RETRY_AFTER, exception_handler
from estate.core.cache_backend import ResilientRedisCache
from estate.core.middleware import DatabaseUnavailableMiddleware
from tests.faults.conftest import free_port


@pytest.mark.parametrize("error", [OperationalError("server closed the connection"), InterfaceError("closed")])
def test_api_answers_503_with_retry_after_when_the_database_is_unavailable(error):
    response = exception_handler(error, {"view": APIView()})
    assert response.status_code == 503
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER)
    assert set(response.data) == {"detail", "errors"} and response.data["errors"] == {}


def test_pages_answer_a_plain_503_and_api_urls_the_json_shape():
    middleware = DatabaseUnavailableMiddleware(lambda request: None)
    page = middleware.process_exception(RequestFactory().get("/components/"), OperationalError("gone"))
    assert page.status_code == 503 and page["Retry-After"] == str(DATABASE_RETRY_AFTER)
    assert b"cannot reach its database" in page.content
    api = middleware.process_exception(RequestFactory().get("/api/v1/health/"), OperationalError("gone"))
    assert api.status_code == 503 and json.loads(api.content)["errors"] == {}
    assert middleware.process_exception(RequestFactory().get("/"), ValueError("a bug")) is None


def test_the_cache_misses_instead_of_raising_while_redis_is_unreachable():
    cache = ResilientRedisCache(f"redis://127.0.0.1:{free_port()}/0", {})  # nothing listens there
    assert cache.get("k", "default") == "default"
    assert cache.get_or_set("version", 1) == 1
    assert cache.add("k", 1) is False
    cache.set("k", 1)
    cache.set_many({"a": 1})
    assert cache.get_many(["a"]) == {}
    cache.delete("k")
    with pytest.raises(ValueError):
        cache.incr("k")
