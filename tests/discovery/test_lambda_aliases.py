"""A Lambda function's current image is the version its serving alias routes to (moto in server mode)."""

from __future__ import annotations

import io
import zipfile

import pytest

from estate.discovery.models import DiscoveredObject
from tests.discovery.test_aws_sync import by_slug, synced

pytestmark = pytest.mark.django_db


def _publish(aws, name: str, times: int) -> None:
    lam = aws.client("lambda", "eu-west-1")
    for n in range(times):
        lam.update_function_code(FunctionName=name, ZipFile=_zip(f"{name} {n}"))
        lam.publish_version(FunctionName=name)


def _zip(text: str) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("handler.py", f"def handle(event, context):\n    return {text!r}\n")
    return archive.getvalue()


def test_the_serving_alias_names_the_current_version_and_moving_it_is_the_change(aws, source):
    aws.function("checkout", "eu-west-1")  # version 1
    _publish(aws, "checkout", 2)  # versions 2 and 3: 3 is the newest, but callers are sent to 2
    lam = aws.client("lambda", "eu-west-1")
    lam.create_alias(FunctionName="checkout", Name="live", FunctionVersion="2")
    lam.create_alias(FunctionName="checkout", Name="canary", FunctionVersion="3")
    synced(source)
    component = by_slug()["checkout"]
    assert component.current_image.version == "2"
    details = DiscoveredObject.objects.get(component=component).details
    assert details["serving_alias"] == "live" and details["aliases"] == "canary → 3, live → 2"

    lam.update_alias(FunctionName="checkout", Name="live", FunctionVersion="3")
    synced(source)
    assert by_slug()["checkout"].current_image.version == "3"


def test_with_no_alias_telling_which_serves_the_newest_published_version_is_current(aws, source):
    aws.function("thumbs", "eu-west-1")
    _publish(aws, "thumbs", 2)
    lam = aws.client("lambda", "eu-west-1")
    lam.create_alias(FunctionName="thumbs", Name="blue", FunctionVersion="1")
    lam.create_alias(FunctionName="thumbs", Name="green", FunctionVersion="2")
    synced(source)
    component = by_slug()["thumbs"]
    assert component.current_image.version == "3"
    assert DiscoveredObject.objects.get(component=component).details["serving_alias"].startswith("none")
