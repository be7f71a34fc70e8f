"""The API's one error shape under malformed and oversized requests, and its OpenAPI schema and docs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import override_settings
from rest_framework.test import APIClient

from estate.api_urls import router
from estate.inventory.models import Component, Team
from tests.factories import EnvironmentFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/components/"
BASE_DIR = Path(settings.BASE_DIR)


def assert_error(response, status: int, *fields: str) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"detail", "errors"}
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert isinstance(body["errors"], dict)
    for field in fields:
        assert field in body["errors"], body
    return body


def component(**overrides) -> dict:
    data = {
        "name": "orders-api",
        "slug": "orders-api",
        "environment": "production",
        "category": "service",
        "provider": "sandbox",
    }
    return {**data, **overrides}


@pytest.fixture(autouse=True)
def env(db):
    return EnvironmentFactory()


# --- malformed bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "this is not json",
        '{"name": "orders-api",',
        "{'name': 'single quotes'}",
        "\xff\xfe",
        "NaNa",
        "NaN",
    ],
)
def test_a_body_that_is_not_json_is_400(api, body):
    response = api.post(URL, body, content_type="application/json")
    assert_error(response, 400)
    assert not Component.objects.exists()


def test_invalid_utf8_is_400(api):
    response = api.generic("POST", URL, b'{"name": "\xff\xfe"}', content_type="application/json")
    assert_error(response, 400)
    assert not Component.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        '"orders-api"',
        "42",
        "null",
        "true",
        "[[]]",
        '[["orders-api"]]',
        "[[[[[[[[[[]]]]]]]]]]",
        '{"name": {"nested": {"deeper": []}}}',
    ],
)
def test_json_of_the_wrong_shape_is_400(api, body):
    response = api.post(URL, body, content_type="application/json")
    assert_error(response, 400)
    assert not Component.objects.exists()


def test_a_json_list_to_a_single_object_endpoint_is_400(api):
    response = api.post("/api/v1/teams/", [{"name": "T", "slug": "t"}], format="json")
    assert_error(response, 400)
    assert not Team.objects.exists()


def test_deeply_nested_json_is_400_not_500(api):
    depth = 100_000
    body = "[" * depth + "]" * depth
    assert len(body) < settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = api.post(URL, body, content_type="application/json")
    assert_error(response, 400)
    assert not Component.objects.exists()


def test_a_string_where_an_object_is_expected_names_the_field(api):
    response = api.post(URL, component(environment={"slug": "production"}, tags={"pci": True}), format="json")
    assert_error(response, 400, "environment", "tags")
    assert not Component.objects.exists()


def test_unsupported_media_type_is_415(api):
    response = api.post(URL, "<component/>", content_type="application/xml")
    assert_error(response, 415)
    assert not Component.objects.exists()


def test_a_body_larger_than_django_allows_is_413_not_500(api):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps(component(description="x" * (limit + 1)))
    response = api.post(URL, body, content_type="application/json")
    body = assert_error(response, 413)
    assert not Component.objects.exists()


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2000)
def test_the_size_limit_is_django_setting(api):
    small = api.post(URL, component(description="x" * 100), format="json")
    assert small.status_code == 201, small.content
    big = api.post(URL, component(slug="big", name="big", description="x" * 3000), format="json")
    assert_error(big, 413)
    big_list = api.post(URL, [component(slug=f"s{i}", name=f"s{i}") for i in range(40)], format="json")
    assert_error(big_list, 413)
    assert Component.objects.count() == 1


def test_a_multipart_body_is_415_the_api_speaks_json(api):
    body = assert_error(api.post(URL, component(), format="multipart"), 415)
    assert "multipart/form-data" in body["detail"]
    assert not Component.objects.exists()


def test_a_form_encoded_body_is_415_the_api_speaks_json(api):
    response = api.post(URL, urlencode(component()), content_type="application/x-www-form-urlencoded")
    body = assert_error(response, 415)
    assert "application/x-www-form-urlencoded" in body["detail"]
    assert not Component.objects.exists()


def test_method_not_allowed_keeps_the_shape(api):
    assert_error(api.post("/api/v1/findings/kinds/", {}, format="json"), 405)


def test_unknown_api_path_is_404(api):
    assert api.get("/api/v1/nothing-here/").status_code == 404


# --- schema -----------------------------------------------------------------------------------


def _schema(client: APIClient) -> dict:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_schema_is_openapi_3_with_every_router_endpoint(api):
    schema = _schema(api)
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for prefix, viewset, _basename in router.registry:
        assert f"/api/v1/{prefix}/" in paths or not hasattr(viewset, "list"), prefix
        if hasattr(viewset, "retrieve"):
            assert f"/api/v1/{prefix}/{{id}}/" in paths, prefix
    assert "/api/v1/findings/kinds/" in paths
    assert "/api/v1/calendar/state/" in paths
    assert set(paths["/api/v1/components/"]) >= {"get", "post"}
    assert set(paths["/api/v1/components/{id}/"]) >= {"get", "put", "patch", "delete"}


def test_schema_as_json_matches_the_yaml(api):
    response = api.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response.json()["paths"].keys() == _schema(api)["paths"].keys()


def test_schema_documents_filters_and_findings(api):
    schema = _schema(api)
    component_params = {p["name"] for p in schema["paths"]["/api/v1/components/"]["get"]["parameters"]}
    assert {"mode", "category", "environment", "system", "team", "tag", "holds_state", "q", "ordering"} <= (
        component_params
    )
    assert {"page", "page_size"} <= component_params
    finding_params = {p["name"]: p for p in schema["paths"]["/api/v1/findings/"]["get"]["parameters"]}
    assert {"severity", "kind", "component", "page", "page_size"} <= set(finding_params)
    assert set(finding_params["severity"]["schema"]["enum"]) == {"critical", "warning", "info"}


def test_spectacular_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yml"
    env = {**os.environ, "DEBUG": "true"}
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", str(out)],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr
    assert "/api/v1/components/" in out.read_text()


# --- docs -------------------------------------------------------------------------------------

EXTERNAL_URL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_docs_render_from_local_static_files_only(api, path):
    response = api.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "http://" not in html
    assert "https://" not in html
    assert not EXTERNAL_URL.search(html)
    assert "/static/" in html
    assert "/api/schema/" in html


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_docs_static_files_exist(api, path):
    html = api.get(path).content.decode()
    assets = re.findall(r"""(?:src|href)=["']/static/([^"'?]+)""", html)
    assert assets
    for asset in assets:
        assert finders.find(asset), asset


@pytest.mark.parametrize("url", ["/api/v1/clusters/not-a-number/", "/api/v1/occurrences/%C2%84/cancel/", "/api/nope/"])
def test_an_api_url_no_route_matches_is_a_json_404(api, url):
    """Schemathesis: a malformed id in the path fell through to the HTML 404 page under /api/."""
    body = assert_error(api.post(url) if url.endswith("cancel/") else api.get(url), 404)
    assert body["errors"] == {}


def test_a_page_url_no_route_matches_is_still_the_html_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_the_schema_documents_the_error_answers_in_the_error_shape(api):
    """Schemathesis found 4xx answers the schema did not list (404 on a bad page, 415, 409...)."""
    schema = api.get("/api/schema/?format=json").json()
    assert schema["components"]["schemas"]["Error"]["required"] == ["detail", "errors"]
    listed = schema["paths"]["/api/v1/components/"]["get"]["responses"]
    assert {"400", "401", "403", "404", "429"} <= set(listed)
    created = schema["paths"]["/api/v1/components/"]["post"]["responses"]
    assert {"400", "409", "413", "415"} <= set(created)
    error = created["409"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}
