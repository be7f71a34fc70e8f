from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from estate.inventory.choices import Category, ClusterRole, Engine, Mode, Provider
from estate.inventory.models import Cluster, Component, Environment, Image, Instance, System, Tag, Team


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pass-word-123")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class EnvironmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Environment
        django_get_or_create = ("slug",)

    name = "Production"
    slug = "production"
    is_production = True


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"tag-{n}")
    slug = factory.SelfAttribute("name")


class SystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = System
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"System {n}")
    slug = factory.Sequence(lambda n: f"system-{n}")
    owner = factory.SubFactory(TeamFactory)


class ClusterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cluster

    name = factory.Sequence(lambda n: f"pg-cluster-{n}")
    slug = factory.SelfAttribute("name")
    engine = Engine.POSTGRESQL
    environment = factory.SubFactory(EnvironmentFactory)


class ImmutableComponentFactory(factory.django.DjangoModelFactory):
    """A well-behaved immutable service: no finding of its own."""

    class Meta:
        model = Component

    name = factory.Sequence(lambda n: f"service-{n}")
    slug = factory.SelfAttribute("name")
    environment = factory.SubFactory(EnvironmentFactory)
    system = factory.SubFactory(SystemFactory)
    team = factory.SubFactory(TeamFactory)
    category = Category.SERVICE
    mode = Mode.IMMUTABLE
    holds_state = False
    provider = Provider.SANDBOX
    desired_instances = 2
    max_instance_age_days = 30
    heartbeat_period_seconds = 30


class BastionComponentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Component

    name = factory.Sequence(lambda n: f"db-{n}")
    slug = factory.SelfAttribute("name")
    environment = factory.SubFactory(EnvironmentFactory)
    system = factory.SubFactory(SystemFactory)
    team = factory.SubFactory(TeamFactory)
    category = Category.DATABASE
    mode = Mode.BASTION
    holds_state = True
    engine = Engine.POSTGRESQL
    engine_version = "16.4"
    role = ClusterRole.STANDALONE
    patch_cadence_days = 30
    expected_failover_seconds = 20


class ImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Image

    component = factory.SubFactory(ImmutableComponentFactory)
    version = factory.Sequence(lambda n: f"1.{n}.0")
    reference = factory.Sequence(lambda n: f"ami-{n:012x}")


class InstanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Instance

    component = factory.SubFactory(ImmutableComponentFactory)
    external_id = factory.Sequence(lambda n: f"i-{n:08x}")


class IngestTokenFactory(factory.django.DjangoModelFactory):
    """An ingest token; its secret is on `.raw` (only the hash is stored)."""

    class Meta:
        model = "telemetry.IngestToken"

    name = factory.Sequence(lambda n: f"shipper-{n}")

    @classmethod
    def _create(cls, model_class, *args, teams=(), systems=(), whole_estate=None, **kwargs):
        # Estate-wide unless teams or systems are given: IngestTokenFactory(teams=[team]) is limited.
        whole_estate = not (teams or systems) if whole_estate is None else whole_estate
        token = model_class(*args, whole_estate=whole_estate, **kwargs)
        token.raw = token.set_new_secret()
        token.save()
        token.teams.set(teams)
        token.systems.set(systems)
        return token


class MetricRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "telemetry.MetricRule"

    component = factory.SubFactory(ImmutableComponentFactory)
    metric = "http_error_rate"
    aggregation = "avg"
    window_seconds = 300
    comparison = "above"
    warn = 0.05
    critical = 0.2
