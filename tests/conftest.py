from __future__ import annotations

import os
import shutil
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.utils import timezone
from rest_framework.test import APIClient

from estate.access import roles
from estate.access import services as access_services
from tests.factories import UserFactory

# Playwright drives the browser from an event loop; Django's live_server is synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1, EXCLUDE localhost",
]

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def pytest_collection_modifyitems(config, items):
    """Skip what this machine cannot run, and say why in the summary (-ra)."""
    reasons = {
        "postgres": None if ON_POSTGRES else "needs PostgreSQL: set DATABASE_URL=postgres://...",
        "redis": None if os.environ.get("REDIS_URL") else "needs Redis: set REDIS_URL=redis://...",
        "browser": None
        if shutil.which(CHROMIUM)
        else f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)",
    }
    for item in items:
        for marker, reason in reasons.items():
            if reason and item.get_closest_marker(marker):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_FLAGS}


@pytest.fixture
def site(live_server) -> str:
    """The live server's address by IP: CHROMIUM_FLAGS resolve no host name but 127.0.0.1 and localhost."""
    return live_server.url.replace("//localhost:", "//127.0.0.1:")


@pytest.fixture
def user_page(page):
    """The page, failing the test on any script error, console error, failed request or response >= 400."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("console", lambda msg: msg.type == "error" and problems.append(f"console: {msg.text}"))
    # A navigation cancels requests still in flight (net::ERR_ABORTED): that is the browser, not a fault.
    page.on(
        "requestfailed",
        lambda request: (
            "ERR_ABORTED" not in (request.failure or "") and problems.append(f"failed: {request.url} {request.failure}")
        ),
    )
    page.on(
        "response", lambda response: response.status >= 400 and problems.append(f"{response.status}: {response.url}")
    )
    page.set_default_timeout(15_000)
    yield page
    assert problems == []


def _user_with(username: str, *codenames: str, **extra):
    user = UserFactory(username=username, **extra)
    if codenames:
        user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def user_with_role(username: str, role: str, **extra):
    user = UserFactory(username=username, **extra)
    user.groups.add(Group.objects.get(name=role))
    return user


def api_token(user, scope: str = "write") -> str:
    """A personal API token's secret for `user`, valid for a day."""
    expires = timezone.now() + timedelta(days=1)
    return access_services.token_create(
        user=user, name=f"{scope} token {uuid.uuid4().hex[:8]}", scope=scope, expires_at=expires
    )[1]


def token_client(user, scope: str = "write") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token(user, scope)}")
    return client


@pytest.fixture
def admin_user(db):
    return _user_with("admin", is_staff=True, is_superuser=True)


@pytest.fixture
def estate_admin(db):
    """The admin role, without Django's superuser flag."""
    return user_with_role("estate-admin", roles.ADMIN, is_staff=True)


@pytest.fixture
def operator(db):
    """The operator role: patch windows, occurrences, operations; not the inventory."""
    return user_with_role("operator", roles.OPERATOR)


@pytest.fixture
def editor(db):
    """May edit the inventory but not delete it (model permissions given one by one)."""
    return _user_with("editor", "view_component", "add_component", "change_component", "add_instance",
                      "change_instance", "add_image", "change_image")  # fmt: skip


@pytest.fixture
def viewer(db):
    return user_with_role("viewer", roles.VIEWER)


@pytest.fixture
def api(admin_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


@pytest.fixture
def viewer_api(viewer) -> APIClient:
    client = APIClient()
    client.force_authenticate(viewer)
    return client


@pytest.fixture
def token_api(admin_user) -> APIClient:
    """The admin's personal write token in the Authorization header."""
    return token_client(admin_user)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Password hashing is deliberately slow; tests log in hundreds of times."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def uncached_figures(settings):
    """Tests change the estate through factories, which bypass the cache's invalidation."""
    settings.ESTATE_FIGURES_CACHE_SECONDS = 0
