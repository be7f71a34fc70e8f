from __future__ import annotations

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";"))}


@pytest.mark.parametrize("name", ["dashboard", "component_list", "finding_list", "calendar", "operation_list"])
def test_html_pages_carry_a_policy_without_inline_script(client, viewer, name):
    client.force_login(viewer)
    response = client.get(reverse(name))
    assert response.status_code == 200
    policy = _policy(response)
    assert policy["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in policy["script-src"] + policy["style-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert policy["object-src"] == ["'none'"]


def test_the_page_nonce_is_the_one_in_the_header(client, viewer):
    client.force_login(viewer)
    response = client.get(reverse("calendar"))
    nonce = re.search(r'<meta name="csp-nonce" content="([^"]+)"', response.content.decode()).group(1)
    assert f"'nonce-{nonce}'" in _policy(response)["style-src"]


@pytest.mark.parametrize("name", ["login", "swagger-ui", "redoc"])
def test_the_login_and_api_docs_pages_carry_the_policy(client, name):
    response = client.get(reverse(name))  # all three are open to anyone
    assert response.status_code == 200
    assert "script-src" in response["Content-Security-Policy"]


def test_the_swagger_page_runs_its_inline_script_by_nonce(admin_client):
    response = admin_client.get(reverse("swagger-ui"))
    nonce = re.search(r'<script nonce="([^"]+)">', response.content.decode()).group(1)
    assert f"'nonce-{nonce}'" in _policy(response)["script-src"]
