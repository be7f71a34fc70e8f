"""The aws provider with boto3 against moto's in-process AWS."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from estate.inventory.choices import Health, InstanceState
from estate.inventory.models import Instance
from estate.operations import engine, services
from estate.operations.choices import OperationKind, OperationState
from estate.operations.models import ProviderConfig
from estate.operations.providers.aws import AwsProvider
from tests.operations.conftest import make_component, run_to_end

pytestmark = pytest.mark.django_db
REGION = "eu-west-1"


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        autoscaling = boto3.client("autoscaling", region_name=REGION)
        # An image of our own: moto's public AMI list may be switched off (MOTO_EC2_LOAD_DEFAULT_AMIS).
        ami = ec2.register_image(Name="web-base", Architecture="x86_64", RootDeviceName="/dev/sda1")["ImageId"]
        subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
        template = ec2.create_launch_template(
            LaunchTemplateName="web", LaunchTemplateData={"ImageId": ami, "InstanceType": "t3.micro"}
        )["LaunchTemplate"]["LaunchTemplateId"]
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName="web-asg",
            LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
            MinSize=0,
            MaxSize=10,
            DesiredCapacity=2,
            VPCZoneIdentifier=subnet,
        )
        builder = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        yield {"ec2": ec2, "autoscaling": autoscaling, "builder": builder}


@pytest.fixture(autouse=True)
def no_dispatch(monkeypatch):
    monkeypatch.setattr(services, "dispatch", lambda op_id: None)


@pytest.fixture
def telemetry(monkeypatch):
    """After Auto Scaling's own readiness, telemetry reports the in-service instances healthy."""
    real = AwsProvider.refresh

    def refresh(self, operation, instances):
        real(self, operation, instances)
        Instance.objects.filter(pk__in=[i.pk for i in instances], state=InstanceState.RUNNING).update(
            health=Health.HEALTHY
        )

    monkeypatch.setattr(AwsProvider, "refresh", refresh)


def aws_component(aws):
    component = make_component(instances=0, provider="aws")
    group = aws["autoscaling"].describe_auto_scaling_groups(AutoScalingGroupNames=["web-asg"])["AutoScalingGroups"][0]
    for found in group["Instances"]:
        Instance.objects.create(
            component=component,
            external_id=found["InstanceId"],
            state=InstanceState.RUNNING,
            health=Health.HEALTHY,
            image=component.images.get(version="1.0.0"),
        )
    component.desired_instances = 2
    component.save()
    ProviderConfig.objects.create(
        component=component,
        settings={"region": REGION, "auto_scaling_group": "web-asg", "builder_instance_id": aws["builder"]},
    )
    return component


def run(op):
    op = run_to_end(op)
    return op


def test_rebuild_creates_an_ami_and_a_repeat_finds_it(aws):
    component = aws_component(aws)
    op = run(services.operation_start(component=component, kind=OperationKind.REBUILD_IMAGE))
    component.refresh_from_db()
    assert op.state == OperationState.SUCCEEDED, op.error
    ami = component.current_image.reference
    assert aws["ec2"].describe_images(ImageIds=[ami])["Images"][0]["Name"].endswith(f"op{op.pk}")
    assert AwsProvider(config=component.provider_config).build_image(op)["reference"] == ami


def test_roll_launches_into_the_group_and_terminates_the_old_instances(aws, telemetry):
    component = aws_component(aws)
    rebuild = run(services.operation_start(component=component, kind=OperationKind.REBUILD_IMAGE))
    assert rebuild.state == OperationState.SUCCEEDED
    olds = set(Instance.objects.filter(component=component).values_list("external_id", flat=True))
    op = run(services.operation_start(component=component, kind=OperationKind.ROLL_COMPONENT, params={"batch_size": 1}))
    assert op.state == OperationState.SUCCEEDED, op.error
    group = aws["autoscaling"].describe_auto_scaling_groups(AutoScalingGroupNames=["web-asg"])["AutoScalingGroups"][0]
    in_group = {i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"}
    new = set(
        Instance.objects.filter(component=component, state=InstanceState.RUNNING).values_list("external_id", flat=True)
    )
    assert len(new) == 2 and not new & olds and new <= in_group and not olds & in_group
    component.refresh_from_db()
    images = {
        i["ImageId"]
        for r in aws["ec2"].describe_instances(InstanceIds=list(new))["Reservations"]
        for i in r["Instances"]
    }
    assert images == {component.current_image.reference}


def test_a_repeated_launch_finds_the_instance_it_started(aws):
    component = aws_component(aws)
    op = services.operation_start(component=component, kind=OperationKind.ROLL_COMPONENT)
    token = engine.claim(op.pk)
    run_ = engine.Run(op.pk, token)
    run_.provider = AwsProvider(config=component.provider_config)
    run_.plan()
    replacement = op.replacements.first()
    first = run_.provider.launch(op, replacement, component.current_image)
    second = run_.provider.launch(op, replacement, component.current_image)
    assert first == second


def test_missing_group_is_a_clear_failure(aws):
    component = aws_component(aws)
    ProviderConfig.objects.filter(component=component).update(settings={"region": REGION, "auto_scaling_group": "nope"})
    op = run(services.operation_start(component=component, kind=OperationKind.ROLL_COMPONENT))
    assert op.state == OperationState.FAILED and "nope does not exist" in op.error
