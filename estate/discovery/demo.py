"""The demo's discovered corner: an EC2 instance found outside any Auto Scaling group (the
loose-ec2-instance finding), from a disabled demo source that nothing ever syncs."""

from __future__ import annotations

from django.utils import timezone

from estate.discovery.choices import ObjectKind, SourceKind
from estate.discovery.models import DiscoveredObject, DiscoverySource
from estate.inventory.choices import Category, InstanceState, Mode, Provider
from estate.inventory.models import Component, Environment, Image, Instance

INSTANCE_ID = "i-0de30a1b2c3d4e5f6"
AMI = "ami-0d3e4f5a6b7c8d9e0"


def load_demo_discovery() -> int:
    """Load (or refresh) it; answers the number of components it holds."""
    source, _ = DiscoverySource.objects.update_or_create(
        name="aws-demo",
        defaults={
            "kind": SourceKind.AWS,
            "enabled": False,
            "regions": ["eu-west-1"],
            "default_environment": "production",
        },
    )
    environment = Environment.objects.get(slug="production")
    component, _ = Component.objects.update_or_create(
        environment=environment,
        slug="legacy-reports",
        defaults={"name": "legacy-reports", "category": Category.SERVICE, "mode": Mode.IMMUTABLE,
                  "provider": Provider.AWS, "desired_instances": 1},
    )  # fmt: skip
    image, _ = Image.objects.get_or_create(component=component, version=AMI, defaults={"reference": AMI})
    Component.objects.filter(pk=component.pk).update(current_image=image)
    instance, _ = Instance.objects.update_or_create(
        component=component,
        external_id=INSTANCE_ID,
        defaults={"image": image, "state": InstanceState.RUNNING, "address": "10.0.9.14", "zone": "eu-west-1b"},
    )
    now = timezone.now()
    where = {"region": "eu-west-1", "account": "123456789012", "last_seen_at": now, "gone_since": None}
    key = f"eu-west-1/{INSTANCE_ID}"
    DiscoveredObject.objects.update_or_create(
        source=source, key=key, defaults={"kind": ObjectKind.EC2, "component": component, **where}
    )
    DiscoveredObject.objects.update_or_create(
        source=source, key=f"{key}#{INSTANCE_ID}", defaults={"kind": ObjectKind.INSTANCE, "instance": instance, **where}
    )
    return 1
