"""A demo shipper: keeps the demo estate alive by sending telemetry the way a real agent would.

Each cycle it reads the live instances of the demo (so instances a roll launches start reporting
once they have warmed up, and terminated ones stop), and exports through Estate's own OTLP/HTTP
endpoint with the OpenTelemetry SDK's exporter and an ingest token: one resource per instance
(service.name, deployment.environment, service.instance.id), so every sample carries its instance
and every resource is a heartbeat. Nothing is written to the database directly.

To keep the demo believable rather than uniformly green:
- a small fixed set of instances (chosen at the first cycle) falls silent for FLAP_SILENT_SECONDS
  every FLAP_EVERY_SECONDS, long enough to go down for about a minute, then comes back;
- one production database replica's replication lag drifts up past its warn level and back;
- one instance of an immutable production component logs an sshd "Accepted publickey" line once
  (through /v1/logs), so the default log rule taints it and its policy replaces it.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Metric,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from estate.inventory.choices import LIVE_INSTANCE_STATES, Category, ClusterRole, Mode
from estate.inventory.models import Instance
from estate.telemetry.choices import Comparison
from estate.telemetry.health import effective_rules, rules_for
from estate.telemetry.models import IngestToken
from estate.telemetry.services import ingest_token_create

TOKEN_NAME = "demo-shipper"  # noqa: S105 - the token's name, not its secret
WARMUP_SECONDS = 3  # below the operations' default warm-up, so a roll's analysis sees the new instances
FLAPPERS = 2
FLAP_EVERY_SECONDS = 600
FLAP_SILENT_SECONDS = 150  # heartbeat 30 s + grace 60 s: down for about the last minute of it
FLAP_FIRST_AFTER_SECONDS = 120
DRIFT_PERIOD_SECONDS = 900
DRIFT_PEAK_SECONDS = 75.0  # above the default warn (30 s), far below critical (300 s)
SSH_LINE = "sshd[{pid}]: Accepted publickey for deploy from 10.20.4.17 port 50422 ssh2: ED25519 SHA256:demo"
SCOPE = InstrumentationScope("estate.demo_shipper")

log = logging.getLogger(__name__)


def demo_token() -> str:
    """A fresh estate-wide ingest token for the shipper; the previous one's secret is unknown, so it goes."""
    IngestToken.objects.filter(name=TOKEN_NAME).delete()
    _, raw = ingest_token_create(name=TOKEN_NAME, whole_estate=True)
    return raw


@dataclass
class Target:
    pk: int
    external_id: str
    service: str
    environment: str
    category: str
    immutable: bool
    replica: bool
    tainted: bool
    rules: list = field(default_factory=list)

    def resource(self) -> Resource:
        return Resource.create(
            {
                "service.name": self.service,
                "deployment.environment.name": self.environment,
                "deployment.environment": self.environment,
                "service.instance.id": self.external_id,
            }
        )


@dataclass
class CycleReport:
    reported: list[str] = field(default_factory=list)  # external ids
    silent: list[str] = field(default_factory=list)  # flapping right now
    points: int = 0
    ok: bool = True
    ssh_sent_to: str = ""


class DemoShipper:
    def __init__(self, *, url: str, token: str, seed: int = 11, ssh_after_seconds: float = 30.0):
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.rng = random.Random(seed)
        self.started = time.time()
        self.ssh_after_seconds = ssh_after_seconds
        self.metrics = OTLPMetricExporter(endpoint=f"{self.url}/v1/metrics", headers=self.headers, timeout=20)
        # The cast (see _cast): chosen once, so a policy's replacements never join it and the demo settles.
        self.flappers: list[int] | None = None
        self.drifting: str | None = None  # "environment/slug" of a component
        self.ssh_sent = False

    # --- what to report --------------------------------------------------------------------

    def targets(self, now: float) -> list[Target]:
        """Live instances past their warm-up, with their component's metric rules."""
        launched_before = datetime.fromtimestamp(now - WARMUP_SECONDS, tz=UTC)
        rows = (
            Instance.objects.filter(state__in=LIVE_INSTANCE_STATES, launched_at__lte=launched_before)
            .select_related("component__environment")
            .order_by("component_id", "external_id")
        )
        own, defaults = effective_rules()
        return [
            Target(
                pk=i.pk,
                external_id=i.external_id,
                service=i.component.slug,
                environment=i.component.environment.slug,
                category=i.component.category,
                immutable=i.component.mode == Mode.IMMUTABLE,
                replica=i.component.role == ClusterRole.REPLICA,
                tainted=i.tainted,
                rules=rules_for(i.component_id, i.component.category, own, defaults),
            )
            for i in rows
        ]

    def _pool(self, targets: list[Target]) -> list[list[Target]]:
        """Untainted instances of immutable production components with several of them (one silent or
        replaced instance degrades such a component rather than downing it), per component, shuffled."""
        by_component: dict[str, list[Target]] = {}
        for t in targets:
            if t.immutable and not t.tainted and t.environment == "production":
                by_component.setdefault(t.service, []).append(t)
        several = sorted((ts for ts in by_component.values() if len(ts) >= 2), key=lambda ts: ts[0].service)
        self.rng.shuffle(several)
        return several

    def _cast(self, targets: list[Target], now: float) -> None:
        """Chosen once each, and late enough that the policies' first replacements (tainted and
        too-old instances at start) are done, so the chosen ones live; a replacement is never chosen."""
        if self.drifting is None:
            replicas = [t for t in targets if t.category == Category.DATABASE and t.replica
                        and t.environment == "production"]  # fmt: skip
            self.drifting = _component_of(replicas[0]) if replicas else ""
        if self.flappers is None and now - self.started >= FLAP_FIRST_AFTER_SECONDS:
            self.flappers = [ts[0].pk for ts in self._pool(targets)[:FLAPPERS]]

    def is_silent(self, target: Target, now: float) -> bool:
        if target.pk not in (self.flappers or []):
            return False
        # Staggered, so the flappers are not silent together.
        offset = self.flappers.index(target.pk) * FLAP_EVERY_SECONDS / max(len(self.flappers), 1)
        elapsed = now - self.started - FLAP_FIRST_AFTER_SECONDS - offset
        return elapsed >= 0 and elapsed % FLAP_EVERY_SECONDS < FLAP_SILENT_SECONDS

    def value(self, target: Target, rule, now: float) -> float:
        if rule.metric == "replication_lag_seconds" and _component_of(target) == self.drifting:
            return round(self.lag(now), 2)
        # A healthy level: well under the warn line (over it for "below" rules), with a slow wave and jitter.
        level = rule.warn * (0.35 if rule.comparison == Comparison.ABOVE else 1.15)
        if rule.comparison == Comparison.BELOW and rule.unit == "ratio":
            level = min(level, 0.97)
        wave = 1 + 0.12 * math.sin(now / 300 + target.pk) + self.rng.uniform(-0.06, 0.06)
        return round(level * wave, 4)

    def lag(self, now: float) -> float:
        """A triangle over DRIFT_PERIOD_SECONDS: 2 s for a third, up to the peak, back down."""
        phase = ((now - self.started) % DRIFT_PERIOD_SECONDS) / DRIFT_PERIOD_SECONDS
        if phase < 1 / 3:
            return 2.0
        rise = (phase - 1 / 3) * 3  # 0 → 2 over the remaining two thirds
        return 2.0 + (DRIFT_PEAK_SECONDS - 2.0) * (rise if rise <= 1 else 2 - rise)

    # --- sending ---------------------------------------------------------------------------

    def cycle(self, now: float | None = None) -> CycleReport:
        now = time.time() if now is None else now
        targets = self.targets(now)
        self._cast(targets, now)
        report = CycleReport()
        resources = []
        for target in targets:
            if self.is_silent(target, now):
                report.silent.append(target.external_id)
                continue
            resources.append(self._resource_metrics(target, now))
            report.reported.append(target.external_id)
            report.points += len(target.rules)
        if resources:
            result = self.metrics.export(MetricsData(resource_metrics=resources))
            report.ok = result == MetricExportResult.SUCCESS
        if not self.ssh_sent and now - self.started >= self.ssh_after_seconds:
            report.ssh_sent_to = self._ssh_once(targets)
        return report

    def _resource_metrics(self, target: Target, now: float) -> ResourceMetrics:
        nanos = int(now * 1e9)
        metrics = [
            Metric(name=rule.metric, description=None, unit=rule.unit,
                   data=Gauge(data_points=[NumberDataPoint(attributes={}, start_time_unix_nano=nanos,
                                                           time_unix_nano=nanos, value=self.value(target, rule, now))]))
            for rule in target.rules
        ]  # fmt: skip
        # No rules (a team switched its defaults off): the resource alone is still a heartbeat.
        return ResourceMetrics(
            resource=target.resource(),
            scope_metrics=[ScopeMetrics(scope=SCOPE, metrics=metrics, schema_url="")],
            schema_url="",
        )

    def _ssh_once(self, targets: list[Target]) -> str:
        self.ssh_sent = True  # once, even when the export fails: one taint, never a series
        pool = [ts[-1] for ts in self._pool(targets) if not set(self.flappers or ()) & {t.pk for t in ts}]
        target = pool[0] if pool else None
        if target is None:
            return ""
        exporter = OTLPLogExporter(endpoint=f"{self.url}/v1/logs", headers=self.headers, timeout=20)
        provider = LoggerProvider(resource=target.resource())
        provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
        try:
            provider.get_logger("sshd").emit(
                timestamp=time.time_ns(), severity_number=SeverityNumber.INFO, severity_text="INFO",
                body=SSH_LINE.format(pid=4000 + target.pk % 1000),
            )  # fmt: skip
            provider.force_flush()
        finally:
            provider.shutdown()
        return target.external_id

    def shutdown(self) -> None:
        self.metrics.shutdown()


def _component_of(target: Target) -> str:
    return f"{target.environment}/{target.service}"
