"""What runs in the demo estate: image history, instances and the deliberate violations.

The demo's inventory itself (teams, systems, environments, clusters, components and how each is run)
is the example catalog, examples/catalog/, applied first by `load_demo` (see estate/catalog/demo.py);
this module adds what a catalog does not describe: when images were built, which instances run
which of them, since when, and which were tampered with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from estate.inventory.choices import Mode, Provider
from estate.inventory.models import Component, Image, Instance


@dataclass(frozen=True)
class Faults:
    """Deliberate principle violations, per environment, so that every finding kind shows up in the demo."""

    taint_in: tuple[str, ...] = ()  # its first instance was tampered with (an SSH session)
    drift_in: tuple[str, ...] = ()  # its first instance runs the previous image
    old_in: tuple[str, ...] = ()  # its first instance is past the component's maximum age


FAULTS = {
    "catalog-api": Faults(taint_in=("production",)),
    "cart-api": Faults(drift_in=("production", "staging")),
    "fraud-scorer": Faults(old_in=("production",)),
    "search-api": Faults(old_in=("production", "staging")),
    "auth-api": Faults(taint_in=("staging",)),
}
IMAGE_AGES_DAYS = (40, 12, 2)  # versions 1.1.0, 1.2.0 and the current 1.3.0


def image_reference(component: Component, version: str) -> str:
    """The same reference in the example catalog and here, whatever the database's ids."""
    digest = hashlib.sha256(f"{component.environment.slug}/{component.slug}@{version}".encode()).hexdigest()
    return f"ami-{digest[:12]}" if component.provider == Provider.AWS else f"sha256:{digest[:16]}"


@transaction.atomic
def load_demo_runtime(components: Iterable[Component]) -> None:
    """Create or refresh the images and instances of the demo's components (safe to run again)."""
    for component in components:
        if component.mode == Mode.BASTION:
            _bastion_node(component)
        else:
            _images_and_instances(component, FAULTS.get(component.slug, Faults()))


BASTION_UP_DAYS = 90  # a bastion is kept alive and patched in place: its node has been up for months


def _bastion_node(component: Component) -> None:
    Instance.objects.update_or_create(
        component=component,
        external_id=f"{component.slug}-{component.environment.slug}-node",
        defaults={
            "address": f"{component.slug}.{component.environment.slug}.internal:5432",
            "zone": "eu-west-1a",
            "launched_at": timezone.now() - timedelta(days=BASTION_UP_DAYS),
        },
    )


def _images_and_instances(component: Component, faults: Faults) -> None:
    now = timezone.now()
    images = []
    for n, age in enumerate(IMAGE_AGES_DAYS, start=1):
        version = f"1.{n}.0"
        image, _ = Image.objects.update_or_create(
            component=component,
            version=version,
            defaults={"reference": image_reference(component, version), "built_at": now - timedelta(days=age)},
        )
        images.append(image)
    component.current_image = images[-1]
    component.save(update_fields=["current_image"])
    env = component.environment.slug
    for n in range(component.desired_instances):
        _instance(component, images, n, env in faults.taint_in, env in faults.drift_in, env in faults.old_in)


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
