"""How an image string becomes a version and a StatefulSet's image an engine (no cluster needed)."""

from __future__ import annotations

import pytest

from estate.discovery.kubernetes import _engine, _engine_version, _version
from estate.inventory.choices import Engine

DIGEST = "sha256:" + "0f" * 32


@pytest.mark.parametrize(
    ("image", "running", "version"),
    [
        ("registry.example/shop/web:1.4.2", DIGEST, "1.4.2"),
        ("registry.example:5000/shop/web:1.4.2", "", "1.4.2"),  # the port's colon is no tag
        ("registry.example:5000/shop/web", DIGEST, DIGEST),  # no tag: latest moves, the digest is the version
        ("nginx:latest", DIGEST, DIGEST),
        ("nginx", "", "latest"),  # nothing running says which latest
        (f"registry.example/shop/web:1.4.2@{DIGEST}", "", DIGEST),  # pinned: the digest
    ],
)
def test_an_image_version_is_its_tag_or_the_digest_when_the_tag_says_nothing(image, running, version):
    assert _version(image, running) == version


@pytest.mark.parametrize(
    ("image", "engine", "engine_version"),
    [
        ("postgres:16.2", Engine.POSTGRESQL, "16.2"),
        ("docker.io/bitnami/postgresql:16.2.0-debian-12-r5", Engine.POSTGRESQL, "16.2.0-debian-12-r5"),
        ("timescale/timescaledb-ha:pg16", Engine.POSTGRESQL, "pg16"),
        ("mariadb:11", Engine.MYSQL, "11"),
        ("valkey/valkey:8.0", Engine.REDIS, "8.0"),
        ("bitnami/redis", Engine.REDIS, ""),
        ("confluentinc/cp-kafka:7.6.0", Engine.KAFKA, "7.6.0"),
        ("registry.example/shop/session-store:3.1", Engine.OTHER, ""),
    ],
)
def test_a_stateful_sets_engine_is_guessed_from_its_image_name_only_where_obvious(image, engine, engine_version):
    assert (_engine(image), _engine_version(image, _engine(image))) == (engine, engine_version)
