"""The demo estate: a realistic mixed estate, loaded idempotently by `manage.py load_demo`."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from estate.inventory.choices import Category, ClusterRole, Engine, Mode, Provider
from estate.inventory.models import Cluster, Component, Environment, Image, Instance, System, Tag, Team


@dataclass
class Spec:
    name: str
    system: str
    category: Category
    team: str
    provider: Provider = Provider.SANDBOX
    engine: Engine | None = None
    engine_version: str = ""
    cluster: str = ""
    role: ClusterRole | None = None
    replicas: int = 3
    tags: tuple[str, ...] = ()
    local_state: str = ""
    heartbeat: int | None = 30
    # Deliberate principle violations, so that every finding kind shows up in the demo.
    ssh_in: tuple[str, ...] = ()
    config_management_in: tuple[str, ...] = ()
    taint_in: tuple[str, ...] = ()
    drift_in: tuple[str, ...] = ()
    old_in: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = field(default=())


TEAMS = {"web": "Web", "payments": "Payments", "data": "Data", "platform": "Platform", "identity": "Identity"}
SYSTEMS = {
    "storefront": ("Storefront", "web", "The public shop: pages, catalogue, cart and checkout."),
    "payments": ("Payments", "payments", "Charges, refunds and the ledger."),
    "search": ("Search", "web", "Product search and indexing."),
    "data-platform": ("Data platform", "data", "Pipelines, reports and the event stream."),
    "identity": ("Identity", "identity", "Log-in, tokens and accounts."),
}
ENVIRONMENTS = {"production": ("Production", True), "staging": ("Staging", False)}
TAGS = ["pci", "public", "tier-1", "batch", "eu-only"]

SPECS = [
    Spec("web-frontend", "storefront", Category.CONTAINER, "web", Provider.KUBERNETES, tags=("public", "tier-1"),
         depends_on=("catalog-api", "cart-api", "session-cache")),
    Spec("catalog-api", "storefront", Category.SERVICE, "web", Provider.AWS, tags=("tier-1",),
         taint_in=("production",), depends_on=("storefront-db-1",)),
    Spec("cart-api", "storefront", Category.SERVICE, "web", Provider.AWS, drift_in=("production", "staging"),
         depends_on=("session-cache", "storefront-db-1")),
    Spec("image-resizer", "storefront", Category.FUNCTION, "web", Provider.AWS,
         local_state="half-resized images in /tmp between steps", depends_on=("artifact-store",)),
    Spec("checkout-worker", "storefront", Category.WORKER, "web", Provider.WEBHOOK,
         local_state="retry queue on local disk", depends_on=("payments-api", "payments-queue")),
    Spec("storefront-db-1", "storefront", Category.DATABASE, "platform", engine=Engine.POSTGRESQL,
         engine_version="16.4", cluster="storefront-pg", role=ClusterRole.PRIMARY, tags=("tier-1",)),
    Spec("storefront-db-2", "storefront", Category.DATABASE, "platform", engine=Engine.POSTGRESQL,
         engine_version="16.4", cluster="storefront-pg", role=ClusterRole.REPLICA),
    Spec("storefront-db-3", "storefront", Category.DATABASE, "platform", engine=Engine.POSTGRESQL,
         engine_version="16.3", cluster="storefront-pg", role=ClusterRole.REPLICA),
    Spec("session-cache", "storefront", Category.CACHE, "platform", engine=Engine.REDIS, engine_version="7.2"),
    Spec("payments-api", "payments", Category.SERVICE, "payments", Provider.WEBHOOK, tags=("pci", "tier-1"),
         depends_on=("payments-db-1", "payments-queue")),
    Spec("ledger-worker", "payments", Category.WORKER, "payments", Provider.WEBHOOK, tags=("pci",),
         ssh_in=("production",), depends_on=("payments-db-1", "payments-queue")),
    Spec("fraud-scorer", "payments", Category.FUNCTION, "payments", Provider.AWS, tags=("pci",),
         old_in=("production",)),
    Spec("payments-db-1", "payments", Category.DATABASE, "platform", engine=Engine.POSTGRESQL,
         engine_version="15.8", cluster="payments-pg", role=ClusterRole.PRIMARY, tags=("pci", "tier-1")),
    Spec("payments-db-2", "payments", Category.DATABASE, "platform", engine=Engine.POSTGRESQL,
         engine_version="15.8", cluster="payments-pg", role=ClusterRole.REPLICA, tags=("pci",)),
    Spec("payments-queue", "payments", Category.QUEUE, "platform", engine=Engine.RABBITMQ, engine_version="3.13"),
    Spec("search-api", "search", Category.SERVICE, "web", Provider.KUBERNETES, old_in=("production", "staging"),
         depends_on=("search-store",)),
    Spec("search-indexer", "search", Category.WORKER, "web", Provider.KUBERNETES,
         config_management_in=("production", "staging"), depends_on=("search-store", "event-stream")),
    Spec("search-store", "search", Category.DATABASE, "data", engine=Engine.ELASTICSEARCH, engine_version="8.15"),
    Spec("etl-runner", "data-platform", Category.WORKER, "data", Provider.WEBHOOK, heartbeat=None, tags=("batch",),
         depends_on=("event-stream", "artifact-store")),
    Spec("report-generator", "data-platform", Category.FUNCTION, "data", Provider.AWS, heartbeat=None,
         tags=("batch",), depends_on=("artifact-store",)),
    Spec("artifact-store", "data-platform", Category.OBJECT_STORE, "data", engine=Engine.MINIO,
         engine_version="2024-10", tags=("eu-only",)),
    Spec("event-stream", "data-platform", Category.QUEUE, "data", engine=Engine.KAFKA, engine_version="3.8"),
    Spec("auth-api", "identity", Category.SERVICE, "identity", Provider.KUBERNETES, tags=("public", "tier-1"),
         taint_in=("staging",), depends_on=("identity-db",)),
    Spec("token-signer", "identity", Category.FUNCTION, "identity", Provider.AWS, depends_on=("identity-db",)),
    Spec("identity-db", "identity", Category.DATABASE, "identity", engine=Engine.MYSQL, engine_version="8.0.39"),
]  # fmt: skip


def _named(model, slug: str, name: str, **extra):
    obj, _ = model.objects.update_or_create(slug=slug, defaults={"name": name, **extra})
    return obj


@transaction.atomic
def load_demo_estate(seed: int = 7) -> int:
    """Create or refresh the demo estate; return the number of components it holds."""
    rng = random.Random(seed)
    teams = {slug: _named(Team, slug, name) for slug, name in TEAMS.items()}
    systems = {
        slug: _named(System, slug, name, owner=teams[owner], description=text)
        for slug, (name, owner, text) in SYSTEMS.items()
    }
    tags = {slug: _named(Tag, slug, slug) for slug in TAGS}
    for env_slug, (env_name, is_production) in ENVIRONMENTS.items():
        env = _named(Environment, env_slug, env_name, is_production=is_production)
        components = {spec.name: _component(spec, env, systems, teams, tags, rng) for spec in SPECS}
        for spec in SPECS:
            components[spec.name].depends_on.set([components[name] for name in spec.depends_on])
    return Component.objects.count()


def _cluster(spec: Spec, env: Environment, systems: dict) -> Cluster:
    slug = f"{spec.cluster}-{env.slug}"
    return _named(Cluster, slug, slug, engine=spec.engine, environment=env, system=systems[spec.system])


def _component(spec: Spec, env, systems, teams, tags, rng) -> Component:
    stateful = spec.engine is not None
    fields = {
        "name": spec.name,
        "description": f"{spec.name.replace('-', ' ').capitalize()} of the {systems[spec.system].name} system.",
        "system": systems[spec.system],
        "team": teams[spec.team],
        "category": spec.category,
        "mode": Mode.BASTION if stateful else Mode.IMMUTABLE,
        "holds_state": stateful,
        "local_state": spec.local_state,
        "heartbeat_period_seconds": spec.heartbeat,
    }
    if stateful:
        fields |= {
            "engine": spec.engine,
            "engine_version": spec.engine_version,
            "cluster": _cluster(spec, env, systems) if spec.cluster else None,
            "role": spec.role or ClusterRole.STANDALONE,
            "patch_cadence_days": 30,
            "expected_failover_seconds": 20 if spec.cluster else 0,
        }
    else:
        fields |= {
            "provider": spec.provider,
            "desired_instances": spec.replicas if env.is_production else 2,
            "max_instance_age_days": 30,
            "ssh_enabled": env.slug in spec.ssh_in,
            "config_management_enabled": env.slug in spec.config_management_in,
        }
    component, _ = Component.objects.update_or_create(environment=env, slug=slugify(spec.name), defaults=fields)
    component.full_clean()
    component.tags.set([tags[t] for t in spec.tags])
    if stateful:
        _bastion_node(component)
    else:
        _images_and_instances(component, spec, env, rng)
    return component


def _bastion_node(component: Component) -> None:
    Instance.objects.update_or_create(
        component=component,
        external_id=f"{component.slug}-{component.environment.slug}-node",
        defaults={"address": f"{component.slug}.{component.environment.slug}.internal:5432", "zone": "eu-west-1a"},
    )


def _images_and_instances(component: Component, spec: Spec, env: Environment, rng: random.Random) -> None:
    now = timezone.now()
    images = []
    for n, age in enumerate((40, 12, 2), start=1):
        reference = (
            f"ami-{rng.getrandbits(48):012x}" if spec.provider == Provider.AWS else f"sha256:{rng.getrandbits(64):016x}"
        )
        image, _ = Image.objects.update_or_create(
            component=component,
            version=f"1.{n}.0",
            defaults={"reference": reference, "built_at": now - timedelta(days=age)},
        )
        images.append(image)
    component.current_image = images[-1]
    component.save(update_fields=["current_image"])
    for n in range(component.desired_instances):
        _instance(component, images, n, env.slug in spec.taint_in, env.slug in spec.drift_in, env.slug in spec.old_in)


def _instance(component, images, n: int, taint: bool, drift: bool, old: bool) -> None:
    first = n == 0
    now = timezone.now()
    Instance.objects.update_or_create(
        component=component,
        external_id=f"{component.slug}-{component.environment.slug}-{n + 1}",
        defaults={
            "image": images[-2] if drift and first else images[-1],
            "zone": f"eu-west-1{'abc'[n % 3]}",
            "address": f"10.{component.environment_id}.{component.pk % 250}.{n + 10}",
            "launched_at": now - timedelta(days=45 if old and first else 1 + n),
            "tainted": taint and first,
            "taint_reason": "ssh_session by alice: edited nginx.conf by hand" if taint and first else "",
            "tainted_at": now - timedelta(hours=3) if taint and first else None,
        },
    )
