"""A moto server (real HTTP, boto3 talks to it as to AWS) per test module, reset and seeded per test."""

from __future__ import annotations

import io
import os
import zipfile

import boto3
import pytest
import requests

os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # loading the public AMI list takes seconds

from moto.server import ThreadedMotoServer  # noqa: E402

from estate.discovery.models import DiscoverySource  # noqa: E402

REGIONS = ("eu-west-1", "us-east-1")
KEY_VARIABLE, SECRET_VARIABLE = "ESTATE_TEST_AWS_KEY_ID", "ESTATE_TEST_AWS_SECRET"


@pytest.fixture(scope="module")
def moto_url():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_url, monkeypatch):
    """A clean account: boto3 clients on the moto server, the credential variables set."""
    requests.post(f"{moto_url}/moto-api/reset", timeout=10)
    monkeypatch.setenv(KEY_VARIABLE, "testing")
    monkeypatch.setenv(SECRET_VARIABLE, "testing")
    return Aws(moto_url)


class Aws:
    def __init__(self, url: str):
        self.url = url

    def client(self, service: str, region: str = "eu-west-1"):
        return boto3.client(
            service, region_name=region, endpoint_url=self.url, aws_access_key_id="testing", aws_secret_access_key="t"
        )

    def group(self, name: str, region: str, size: int, tags: dict | None = None) -> None:
        ec2 = self.client("ec2", region)
        ami = ec2.register_image(Name=f"{name}-image", Architecture="x86_64", RootDeviceName="/dev/sda1")["ImageId"]
        ec2.create_launch_template(
            LaunchTemplateName=name, LaunchTemplateData={"ImageId": ami, "InstanceType": "t3.micro"}
        )
        self.client("autoscaling", region).create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": name, "Version": "$Latest"},
            MinSize=0,
            MaxSize=500,
            DesiredCapacity=size,
            AvailabilityZones=[f"{region}a"],
            Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": True} for k, v in (tags or {}).items()],
        )

    def scale(self, name: str, region: str, size: int) -> None:
        self.client("autoscaling", region).set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=size)

    def loose(self, name: str, region: str) -> str:
        ec2 = self.client("ec2", region)
        ami = ec2.register_image(Name=f"{name}-image", Architecture="x86_64", RootDeviceName="/dev/sda1")["ImageId"]
        answer = ec2.run_instances(
            ImageId=ami,
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}],
        )
        return answer["Instances"][0]["InstanceId"]

    def function(self, name: str, region: str) -> None:
        role = self.client("iam", "us-east-1")
        try:
            arn = role.create_role(RoleName="lambda", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        except role.exceptions.EntityAlreadyExistsException:
            arn = role.get_role(RoleName="lambda")["Role"]["Arn"]
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("handler.py", f"def handle(event, context):\n    return {name!r}\n")
        self.client("lambda", region).create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=arn,
            Handler="handler.handle",
            Code={"ZipFile": archive.getvalue()},
            Publish=True,
        )

    def service(self, cluster: str, name: str, region: str, count: int) -> None:
        ecs = self.client("ecs", region)
        ecs.create_cluster(clusterName=cluster)
        ecs.register_task_definition(
            family=name, containerDefinitions=[{"name": name, "image": f"repo/{name}:1", "memory": 128}]
        )
        ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=name, desiredCount=count)

    def database(self, name: str, region: str, version: str = "15.3", tags: dict | None = None) -> None:
        self.client("rds", region).create_db_instance(
            DBInstanceIdentifier=name,
            Engine="postgres",
            EngineVersion=version,
            DBInstanceClass="db.t3.micro",
            AllocatedStorage=20,
            MasterUsername="estate",
            MasterUserPassword="password123",
            Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
        )

    def aurora(self, name: str, region: str, members: int = 2) -> None:
        rds = self.client("rds", region)
        rds.create_db_cluster(
            DBClusterIdentifier=name,
            Engine="aurora-postgresql",
            EngineVersion="15.4",
            MasterUsername="estate",
            MasterUserPassword="password123",
            PreferredMaintenanceWindow="sun:03:00-sun:04:00",
        )
        for n in range(1, members + 1):
            rds.create_db_instance(
                DBInstanceIdentifier=f"{name}-{n}",
                DBClusterIdentifier=name,
                Engine="aurora-postgresql",
                DBInstanceClass="db.r5.large",
            )

    def cache(self, name: str, region: str) -> None:
        self.client("elasticache", region).create_replication_group(
            ReplicationGroupId=name,
            ReplicationGroupDescription=name,
            Engine="redis",
            EngineVersion="7.0",
            NumCacheClusters=2,
            CacheNodeType="cache.t3.micro",
        )

    def table(self, name: str, region: str) -> None:
        self.client("dynamodb", region).create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

    def seed(self) -> None:
        """The account every test starts from: each kind of thing, in two regions."""
        self.group("web", "eu-west-1", 2, tags={"team": "shop", "env": "production"})
        self.loose("legacy-box", "eu-west-1")
        self.function("resize", "eu-west-1")
        self.service("main", "api", "eu-west-1", 3)
        self.database("billing", "eu-west-1", tags={"team": "finance"})
        self.aurora("orders", "eu-west-1")
        self.cache("sessions", "eu-west-1")
        self.table("carts", "eu-west-1")
        self.group("worker", "us-east-1", 1)
        self.function("thumbs", "us-east-1")
        self.table("events", "us-east-1")


@pytest.fixture
def source(db, aws) -> DiscoverySource:
    return DiscoverySource.objects.create(
        name="aws-test",
        kind="aws",
        regions=list(REGIONS),
        endpoint_url=aws.url,
        access_key_id_env=KEY_VARIABLE,
        secret_access_key_env=SECRET_VARIABLE,
        tag_keys={"team": "team", "environment": "env"},
        default_environment="production",
    )
