"""The AWS adapter: reads one account, region by region, into SeenComponents (no database here).

Each region is read on its own: a region that fails (denied, unreachable, unknown) is reported and
the others are still read. Calls are paginated and per kind, never per object, except ECS whose
services are listed per cluster.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

from estate.core.errors import ApplicationError
from estate.discovery.choices import ObjectKind
from estate.discovery.models import CREDENTIAL_FIELDS, DiscoverySource
from estate.discovery.observed import RegionResult, SeenComponent, SeenImage, SeenInstance
from estate.inventory.choices import Category, ClusterRole, Engine, InstanceState, Mode, Provider
from estate.patching.choices import DeadlineSource
from estate.patching.deadlines import VendorAction

# Retries are few and timeouts short: a region that does not answer is reported, not waited for.
BOTO_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30)
ENGINES = {
    "postgres": Engine.POSTGRESQL,
    "aurora-postgresql": Engine.POSTGRESQL,
    "mysql": Engine.MYSQL,
    "mariadb": Engine.MYSQL,
    "aurora-mysql": Engine.MYSQL,
    "aurora": Engine.MYSQL,
    "redis": Engine.REDIS,
    "valkey": Engine.REDIS,
    "memcached": Engine.MEMCACHED,
}
EC2_STATES = {
    "pending": InstanceState.PENDING,
    "running": InstanceState.RUNNING,
    "shutting-down": InstanceState.TERMINATING,
    "stopping": InstanceState.TERMINATING,
    "stopped": InstanceState.TERMINATED,
    "terminated": InstanceState.TERMINATED,
}


def credentials(source: DiscoverySource) -> dict[str, str]:
    """boto3's keyword arguments, read now from the ESTATE_* variables the source names."""
    names = dict(
        zip(("aws_access_key_id", "aws_secret_access_key", "aws_session_token"), CREDENTIAL_FIELDS, strict=True)
    )
    values = {}
    for argument, field in names.items():
        variable = getattr(source, field)
        if not variable:
            continue
        if variable not in os.environ:
            raise ApplicationError(f"The variable {variable} is not set in the server's environment.", status=409)
        values[argument] = os.environ[variable]
    return values


class AwsReader:
    def __init__(self, source: DiscoverySource):
        self.source = source
        self.session = boto3.session.Session(**credentials(source))
        self.tag_keys = source.tag_keys or {}
        self.clients: dict[tuple[str, str], object] = {}
        # A session is not thread-safe, its clients are: they are made one at a time (and share the
        # session's loaded service models, the slow part), then used by the region threads at once.
        self.lock = threading.Lock()
        self.account_id = ""

    def client(self, service: str, region: str):
        with self.lock:
            if (service, region) not in self.clients:
                endpoint = self.source.endpoint_url or None
                self.clients[service, region] = self.session.client(
                    service, region_name=region, endpoint_url=endpoint, config=BOTO_CONFIG
                )
            return self.clients[service, region]

    def read_all(self) -> list[RegionResult]:
        """Every region at once (each waits on the network, not the CPU), in the source's order."""
        with ThreadPoolExecutor(max_workers=min(8, len(self.source.regions)) + 1) as pool:
            account = pool.submit(self.account)
            results = list(pool.map(self.read, self.source.regions))
            self.account_id = account.result()
        return results

    def account(self) -> str:
        region = self.source.regions[0]
        try:
            return self.client("sts", region).get_caller_identity()["Account"]
        except Exception:  # the account is a label; its absence must not stop the sync
            return ""

    def read(self, region: str) -> RegionResult:
        try:
            return RegionResult(region, _RegionReader(self, region).read())
        except Exception as exc:  # any failure of one region is that region's report, never the run's end
            return RegionResult(region, error=f"{type(exc).__name__}: {exc}"[:500])

    def mapped(self, tags: dict[str, str]) -> dict[str, str]:
        return {target: tags[key] for target, key in self.tag_keys.items() if tags.get(key)}


def _tags(items, key="Key", value="Value") -> dict[str, str]:
    return {t[key]: t[value] for t in items or ()}


def _pages(client, operation: str, result_key: str, **kwargs) -> list:
    return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page.get(result_key, [])]


class _RegionReader:
    def __init__(self, reader: AwsReader, region: str):
        self.reader = reader
        self.region = region

    def client(self, service: str):
        return self.reader.client(service, self.region)

    def read(self) -> list[SeenComponent]:
        tagged = self._tagged_resources()
        ec2 = self._ec2_instances()
        return (
            self._groups(ec2)
            + self._loose(ec2)
            + self._functions(tagged)
            + self._services()
            + self._databases()
            + self._caches(tagged)
            + self._tables(tagged)
        )

    def seen(self, key: str, kind: ObjectKind, name: str, tags: dict, **fields) -> SeenComponent:
        return SeenComponent(key=key, kind=kind, region=self.region, name=name, tags=self.reader.mapped(tags), **fields)

    def _tagged_resources(self) -> dict[str, dict]:
        """{ARN: tags} for what lists no tags itself (Lambda, ElastiCache, DynamoDB): one paginated call."""
        client = self.client("resourcegroupstaggingapi")
        return {
            r["ResourceARN"]: _tags(r.get("Tags")) for r in _pages(client, "get_resources", "ResourceTagMappingList")
        }

    # --- EC2 and Auto Scaling ---------------------------------------------------------------

    def _ec2_instances(self) -> dict[str, dict]:
        reservations = _pages(self.client("ec2"), "describe_instances", "Reservations")
        return {i["InstanceId"]: i for r in reservations for i in r["Instances"]}

    def _instance(self, ec2: dict, image_version: str | None) -> SeenInstance:
        return SeenInstance(
            external_id=ec2["InstanceId"],
            state=EC2_STATES.get(ec2.get("State", {}).get("Name", ""), InstanceState.RUNNING),
            address=ec2.get("PrivateIpAddress", ""),
            zone=ec2.get("Placement", {}).get("AvailabilityZone", ""),
            image_version=image_version,
            launched_at=ec2.get("LaunchTime"),
        )

    def _groups(self, ec2: dict[str, dict]) -> list[SeenComponent]:
        groups = _pages(self.client("autoscaling"), "describe_auto_scaling_groups", "AutoScalingGroups")
        self._grouped = {i["InstanceId"] for g in groups for i in g.get("Instances", [])}
        return [self._group(g, ec2) for g in groups]

    def _group(self, group: dict, ec2: dict[str, dict]) -> SeenComponent:
        members = [ec2[i["InstanceId"]] for i in group.get("Instances", []) if i["InstanceId"] in ec2]
        ami = _group_image(group, members)
        image = SeenImage(ami, ami) if ami else None
        return self.seen(
            group["AutoScalingGroupARN"],
            ObjectKind.ASG,
            group["AutoScalingGroupName"],
            _tags(group.get("Tags")),
            category=Category.SERVICE,
            mode=Mode.IMMUTABLE,
            provider=Provider.AWS,
            desired_instances=group["DesiredCapacity"],
            image=image,
            instances=[self._instance(m, m.get("ImageId")) for m in members],
            details={"launch_template": (group.get("LaunchTemplate") or {}).get("LaunchTemplateName", "")},
        )

    def _loose(self, ec2: dict[str, dict]) -> list[SeenComponent]:
        loose = [i for key, i in ec2.items() if key not in self._grouped and i["State"]["Name"] != "terminated"]
        return [self._loose_one(i) for i in loose]

    def _loose_one(self, ec2: dict) -> SeenComponent:
        tags = _tags(ec2.get("Tags"))
        ami = ec2.get("ImageId", "")
        return self.seen(
            f"{self.region}/{ec2['InstanceId']}",
            ObjectKind.EC2,
            tags.get("Name") or ec2["InstanceId"],
            tags,
            category=Category.SERVICE,
            mode=Mode.IMMUTABLE,
            provider=Provider.AWS,
            desired_instances=1,
            image=SeenImage(ami, ami) if ami else None,
            instances=[self._instance(ec2, ami or None)],
            details={"instance_type": ec2.get("InstanceType", "")},
        )

    # --- Lambda and ECS ---------------------------------------------------------------------

    def _functions(self, tagged: dict[str, dict]) -> list[SeenComponent]:
        """One component per function; the version its serving alias routes to (else its newest published
        version, else $LATEST) is the current image."""
        lam = self.client("lambda")
        versions: dict[str, list[dict]] = {}
        for f in _pages(lam, "list_functions", "Functions", FunctionVersion="ALL"):
            versions.setdefault(f["FunctionName"], []).append(f)
        return [self._function(name, found, _aliases(lam, name, found), tagged) for name, found in versions.items()]

    def _function(self, name: str, versions: list[dict], aliases: dict[str, str], tagged: dict) -> SeenComponent:
        published = {v["Version"]: v for v in versions if v["Version"].isdigit()}
        serving = _serving_alias(aliases, published)
        if serving:
            current = published[aliases[serving]]
        else:
            current = published[max(published, key=int)] if published else versions[0]
        version = current["Version"] if published else f"latest-{current['CodeSha256'][:12]}"
        arn = current["FunctionArn"].rsplit(":", 1)[0] if published else current["FunctionArn"]
        details = {"runtime": current.get("Runtime", "")}
        if aliases:
            details["aliases"] = ", ".join(f"{alias} → {target}" for alias, target in sorted(aliases.items()))
            details["serving_alias"] = serving or "none: the newest published version is taken as current"
        return self.seen(
            arn,
            ObjectKind.LAMBDA,
            name,
            tagged.get(arn, {}),
            category=Category.FUNCTION,
            mode=Mode.IMMUTABLE,
            provider=Provider.AWS,
            image=SeenImage(version, current["CodeSha256"]),
            instances=[SeenInstance(external_id=arn, image_version=version)],
            details=details,
        )

    def _services(self) -> list[SeenComponent]:
        client = self.client("ecs")
        found = []
        for cluster in _pages(client, "list_clusters", "clusterArns"):
            arns = _pages(client, "list_services", "serviceArns", cluster=cluster)
            for chunk in range(0, len(arns), 10):  # describe_services takes at most 10
                answer = client.describe_services(cluster=cluster, services=arns[chunk : chunk + 10], include=["TAGS"])
                found += [self._service(s) for s in answer["services"]]
        return found

    def _service(self, service: dict) -> SeenComponent:
        definition = service.get("taskDefinition", "")
        version = definition.rsplit("/", 1)[-1]
        return self.seen(
            service["serviceArn"],
            ObjectKind.ECS,
            service["serviceName"],
            _tags(service.get("tags"), "key", "value"),
            category=Category.CONTAINER,
            mode=Mode.IMMUTABLE,
            provider=Provider.AWS,
            desired_instances=service.get("desiredCount"),
            image=SeenImage(version, definition) if definition else None,
            details={"cluster": service.get("clusterArn", "").rsplit("/", 1)[-1]},
        )

    # --- RDS, ElastiCache, DynamoDB ---------------------------------------------------------

    def _databases(self) -> list[SeenComponent]:
        client = self.client("rds")
        clusters = {c["DBClusterIdentifier"]: c for c in _pages(client, "describe_db_clusters", "DBClusters")}
        found = [self._database(d, clusters) for d in _pages(client, "describe_db_instances", "DBInstances")]
        pending = _optional(lambda: _rds_pending(client))
        if pending is not None:
            for seen in found:
                cluster = clusters.get(seen.cluster) or {}
                seen.vendor_actions = pending.get(seen.key, []) + pending.get(cluster.get("DBClusterArn", ""), [])
        return found

    def _database(self, db: dict, clusters: dict[str, dict]) -> SeenComponent:
        cluster = clusters.get(db.get("DBClusterIdentifier") or "")
        role = ClusterRole.STANDALONE
        if cluster is not None:
            writer = {m["DBInstanceIdentifier"]: m["IsClusterWriter"] for m in cluster.get("DBClusterMembers", [])}
            role = ClusterRole.PRIMARY if writer.get(db["DBInstanceIdentifier"]) else ClusterRole.REPLICA
        endpoint = db.get("Endpoint") or {}
        window = (cluster or db).get("PreferredMaintenanceWindow") or db.get("PreferredMaintenanceWindow", "")
        return self.seen(
            db["DBInstanceArn"],
            ObjectKind.RDS,
            db["DBInstanceIdentifier"],
            _tags(db.get("TagList")),
            category=Category.DATABASE,
            mode=Mode.BASTION,
            holds_state=True,
            engine=ENGINES.get(db["Engine"], Engine.OTHER),
            engine_version=db.get("EngineVersion", ""),
            cluster=cluster["DBClusterIdentifier"] if cluster else "",
            role=role,
            instances=[
                SeenInstance(
                    db["DBInstanceIdentifier"], address=endpoint.get("Address", ""), zone=db.get("AvailabilityZone", "")
                )
            ],
            details={"engine": db["Engine"], "maintenance_window": window, "class": db.get("DBInstanceClass", "")},
        )

    def _caches(self, tagged: dict[str, dict]) -> list[SeenComponent]:
        client = self.client("elasticache")
        versions = {
            c["CacheClusterId"]: c.get("EngineVersion", "")
            for c in _pages(client, "describe_cache_clusters", "CacheClusters")
        }
        groups = _pages(client, "describe_replication_groups", "ReplicationGroups")
        found = [self._cache(g, versions, tagged) for g in groups]
        updates = _optional(lambda: _cache_updates(client))
        if updates is not None:
            for seen, group in zip(found, groups, strict=True):
                seen.vendor_actions = updates.get(group["ReplicationGroupId"], [])
        return found

    def _cache(self, group: dict, versions: dict[str, str], tagged: dict[str, dict]) -> SeenComponent:
        members = [m for node_group in group.get("NodeGroups", []) for m in node_group.get("NodeGroupMembers", [])]
        version = next((versions[m] for m in group.get("MemberClusters", []) if versions.get(m)), "")
        return self.seen(
            group["ARN"],
            ObjectKind.ELASTICACHE,
            group["ReplicationGroupId"],
            tagged.get(group["ARN"], {}),
            category=Category.CACHE,
            mode=Mode.BASTION,
            holds_state=True,
            engine=ENGINES.get(group.get("Engine", "redis"), Engine.OTHER),
            engine_version=version,
            instances=[
                SeenInstance(
                    m["CacheClusterId"],
                    zone=m.get("PreferredAvailabilityZone", ""),
                    address=(m.get("ReadEndpoint") or {}).get("Address", ""),
                )
                for m in members
            ],
            details={
                "roles": {m["CacheClusterId"]: m.get("CurrentRole", "") for m in members},
                "maintenance_window": group.get("PreferredMaintenanceWindow", ""),
            },
        )

    def _tables(self, tagged: dict[str, dict]) -> list[SeenComponent]:
        """DynamoDB: a managed bastion, holding data that AWS runs and patches."""
        names = _pages(self.client("dynamodb"), "list_tables", "TableNames")
        arns = {arn.rsplit("/", 1)[-1]: arn for arn in tagged if ":dynamodb:" in arn}
        return [self._table(name, arns.get(name, f"dynamodb:{self.region}/{name}"), tagged) for name in names]

    def _table(self, name: str, arn: str, tagged: dict[str, dict]) -> SeenComponent:
        return self.seen(
            arn,
            ObjectKind.DYNAMODB,
            name,
            tagged.get(arn, {}),
            category=Category.DATABASE,
            mode=Mode.BASTION,
            holds_state=True,
            managed=True,
            engine=Engine.OTHER,
            details={"engine": "dynamodb"},
        )


# The alias callers are sent to, when a function has several: the first of these names it has, else its only alias.
SERVING_ALIASES = ("live", "prod", "production", "current", "stable")


def _aliases(lam, name: str, versions: list[dict]) -> dict[str, str]:
    """{alias: published version} of a function; one paginated call, only for functions with published versions
    (an alias of $LATEST alone changes nothing)."""
    if not any(v["Version"].isdigit() for v in versions):
        return {}
    return {a["Name"]: a["FunctionVersion"] for a in _pages(lam, "list_aliases", "Aliases", FunctionName=name)}


def _serving_alias(aliases: dict[str, str], published: dict[str, dict]) -> str:
    usable = {alias: target for alias, target in aliases.items() if target in published}
    named = [alias for alias in SERVING_ALIASES if alias in usable]
    if named:
        return named[0]
    return next(iter(usable)) if len(usable) == 1 else ""


def _group_image(group: dict, members: list[dict]) -> str:
    """The group's AMI: what its instances were launched from (its launch template's, if none runs)."""
    amis = sorted({m["ImageId"] for m in members if m.get("ImageId")})
    return amis[-1] if amis else ""


# --- pending vendor maintenance (patching's deadlines) -----------------------------------------


def _optional(read):
    """A vendor-maintenance read that fails (a permission not granted, an endpoint without the API) leaves
    the stored deadlines as they were (None) instead of failing the region: the inventory is the point."""
    try:
        return read()
    except Exception:  # noqa: BLE001 (any failure means "not read", never "no actions")
        return None


def _rds_pending(client) -> dict[str, list[VendorAction]]:
    """{instance or cluster ARN: its pending actions}: one paginated call for the region."""
    found: dict[str, list[VendorAction]] = {}
    for resource in _pages(client, "describe_pending_maintenance_actions", "PendingMaintenanceActions"):
        found[resource["ResourceIdentifier"]] = [
            VendorAction(
                source=DeadlineSource.RDS,
                action=detail.get("Action", "maintenance"),
                description=detail.get("Description", ""),
                auto_applied_after=detail.get("AutoAppliedAfterDate"),
                forced_apply_date=detail.get("ForcedApplyDate"),
                opt_in_status=detail.get("OptInStatus", ""),
            )
            for detail in resource.get("PendingMaintenanceActionDetails", [])
        ]
    return found


OPEN_UPDATE_STATUSES = [
    "not-applied",
    "waiting-to-start",
    "in-progress",
    "stopping",
    "stopped",
    "scheduling",
    "scheduled",
]


def _cache_updates(client) -> dict[str, list[VendorAction]]:
    """{replication group id: its service updates not yet applied}; the recommended apply-by date is the deadline."""
    found: dict[str, list[VendorAction]] = {}
    actions = _pages(
        client,
        "describe_update_actions",
        "UpdateActions",
        UpdateActionStatus=OPEN_UPDATE_STATUSES,
        ShowNodeLevelUpdateStatus=False,
    )
    for a in actions:
        group = a.get("ReplicationGroupId") or a.get("CacheClusterId", "")
        kind = " ".join(p for p in (a.get("ServiceUpdateSeverity", ""), a.get("ServiceUpdateType", "")) if p)
        found.setdefault(group, []).append(
            VendorAction(
                source=DeadlineSource.ELASTICACHE,
                action=a.get("ServiceUpdateName", "service-update"),
                description=f"{kind} service update".strip(),
                auto_applied_after=a.get("ServiceUpdateRecommendedApplyByDate"),
                opt_in_status=a.get("UpdateActionStatus", ""),
            )
        )
    return found
