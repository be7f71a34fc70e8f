"""The aws provider: AMIs from a builder instance, replacements launched into the Auto Scaling group.

Credentials come from boto3's usual chain (environment, instance profile); none are stored.
"""

from __future__ import annotations

from collections.abc import Sequence

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from django.db import transaction
from django.utils import timezone

from estate.inventory.choices import Health, InstanceState
from estate.inventory.models import Instance
from estate.operations.providers.base import OperationProvider, ProviderError

TAG = "estate:replacement"


def _zone(replacement) -> str:
    return replacement.old_instance.zone if replacement.old_instance else ""


class AwsProvider(OperationProvider):
    name = "aws"

    def __init__(self, *, config=None):
        settings = config.settings if config else {}
        self.group = settings.get("auto_scaling_group", "")
        self.builder_instance = settings.get("builder_instance_id", "")
        region = settings.get("region") or None
        self.ec2 = boto3.client("ec2", region_name=region)
        self.autoscaling = boto3.client("autoscaling", region_name=region)

    def _group(self) -> dict:
        if not self.group:
            raise ProviderError("The aws provider needs auto_scaling_group in its config.")
        groups = self._aws(self.autoscaling.describe_auto_scaling_groups, AutoScalingGroupNames=[self.group])
        if not groups["AutoScalingGroups"]:
            raise ProviderError(f"Auto Scaling group {self.group} does not exist.")
        return groups["AutoScalingGroups"][0]

    @staticmethod
    def _aws(call, **kwargs) -> dict:
        try:
            return call(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise ProviderError(f"AWS: {exc}") from exc

    def build_image(self, operation) -> dict:
        """An AMI of the builder instance; a repeated call finds the AMI the first one created."""
        if not self.builder_instance:
            raise ProviderError("The aws provider needs builder_instance_id in its config to create an AMI.")
        name = f"{operation.component.slug}-{operation.component.environment.slug}-op{operation.pk}"
        found = self._aws(self.ec2.describe_images, Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])
        if found["Images"]:
            return {"version": name, "reference": found["Images"][0]["ImageId"]}
        created = self._aws(self.ec2.create_image, InstanceId=self.builder_instance, Name=name)
        return {"version": name, "reference": created["ImageId"]}

    def launch(self, operation, replacement, image) -> Instance:
        key = f"op{operation.pk}-r{replacement.pk}"
        instance_id = self._launched(key) or self._run(key, image)
        with transaction.atomic():
            instance, _ = Instance.objects.get_or_create(
                component_id=operation.component_id,
                external_id=instance_id,
                defaults={"image": image, "state": InstanceState.PENDING, "zone": _zone(replacement)},
            )
        return instance

    def _launched(self, key: str) -> str | None:
        reply = self._aws(
            self.ec2.describe_instances,
            Filters=[
                {"Name": f"tag:{TAG}", "Values": [key]},
                {"Name": "instance-state-name", "Values": ["pending", "running"]},
            ],
        )
        for reservation in reply["Reservations"]:
            for found in reservation["Instances"]:
                return found["InstanceId"]
        return None

    def _run(self, key: str, image) -> str:
        group = self._group()
        template = group.get("LaunchTemplate") or {}
        kwargs = {
            "MinCount": 1,
            "MaxCount": 1,
            "ClientToken": key,
            "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": TAG, "Value": key}]}],
        }
        if template:
            kwargs["LaunchTemplate"] = {
                "LaunchTemplateId": template["LaunchTemplateId"],
                "Version": template.get("Version", "$Default"),
            }
        if image:
            kwargs["ImageId"] = image.reference
        subnets = [s for s in group.get("VPCZoneIdentifier", "").split(",") if s]
        if subnets:
            kwargs["SubnetId"] = subnets[0]
        instance_id = self._aws(self.ec2.run_instances, **kwargs)["Instances"][0]["InstanceId"]
        self._aws(self.autoscaling.attach_instances, InstanceIds=[instance_id], AutoScalingGroupName=self.group)
        return instance_id

    def refresh(self, operation, instances: Sequence) -> None:
        """Record Auto Scaling's lifecycle (InService means running); health itself comes from telemetry."""
        ids = [i.external_id for i in instances if i.state == InstanceState.PENDING]
        if not ids:
            return
        reply = self._aws(self.autoscaling.describe_auto_scaling_instances, InstanceIds=ids)
        in_service = [i["InstanceId"] for i in reply["AutoScalingInstances"] if i["LifecycleState"] == "InService"]
        Instance.objects.filter(component_id=operation.component_id, external_id__in=in_service).update(
            state=InstanceState.RUNNING, updated_at=timezone.now()
        )

    def terminate(self, operation, instances: Sequence) -> None:
        for instance in instances:
            try:
                self.autoscaling.terminate_instance_in_auto_scaling_group(
                    InstanceId=instance.external_id, ShouldDecrementDesiredCapacity=True
                )
            except ClientError as exc:
                # Already gone from the group (a repeated step): make sure it is terminated all the same.
                if "not part of" not in str(exc) and "not found" not in str(exc).lower():
                    raise ProviderError(f"AWS: {exc}") from exc
                self._aws(self.ec2.terminate_instances, InstanceIds=[instance.external_id])
        Instance.objects.filter(pk__in=[i.pk for i in instances]).update(
            state=InstanceState.TERMINATED, health=Health.UNKNOWN, updated_at=timezone.now()
        )
