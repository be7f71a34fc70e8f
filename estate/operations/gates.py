"""The analysis gate and bake time of a batch (or of a provider's whole rollout), for engine.Run.

After the health gate, a batch bakes for bake_seconds: every look asks telemetry's analysis whether
the component's metric rules, the roll's PromQL conditions and its dependents' error rate hold.
A failing check fails the batch at once (GateFailed, which a roll with rollback turns into a
roll-back of every batch); the latest look is kept in the operation's result, so the page shows the
measured values against their bounds while it bakes and after it failed.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from estate.operations.flow import GateFailed, log_step
from estate.operations.providers.base import Snooze
from estate.telemetry import analysis


class AnalysisSteps:
    """For engine.Run: uses its op, param, marks, mark, save_result and poll."""

    def bake_seconds(self) -> float:
        bake = float(self.param("bake_seconds", settings.OPERATIONS_DEFAULT_BAKE_SECONDS))
        return min(bake, settings.OPERATIONS_MAX_WAIT_SECONDS)

    def analyse(
        self, label: str, *, since: datetime, before: datetime, replaced: list[int] = (), batch: int | None = None
    ) -> None:
        """Pass once the bake is over with every check holding; GateFailed on a failing check; else snooze
        until the next look. `since` is when the new instances had warmed up: the window's start."""
        if self.marks().get("bake passed"):
            return
        bake = self.bake_seconds()
        until = self.marks().get("bake until")
        if until is None:
            until = time.time() + bake
            self.mark("bake until", until)
            if bake:
                log_step(self.op, f"{label}: baking for {bake:g} s while the analysis holds.", batch=batch)
        checks = analysis.analyse(
            self.op.component,
            since=since,
            until=timezone.now(),
            before=before,
            replaced_instance_ids=replaced,
            queries=self.param("analysis_queries", []),
            max_dependent_error_rate=self.param("max_dependent_error_rate", None),
        )
        left = until - time.time()
        failing = analysis.failed(checks) or (analysis.unanswered(checks) if left <= 0 else [])
        self.keep_analysis(label, checks, "failed" if failing else "passed" if left <= 0 else "baking")
        if failing:
            raise GateFailed(f"{label}: analysis failed: " + "; ".join(c.text() for c in failing) + ".")
        if left > 0:
            interval = max(self.poll, settings.OPERATIONS_ANALYSIS_INTERVAL_SECONDS)
            raise Snooze(min(interval, left), f"{label}: baking, {left:.0f} s left; {len(checks)} check(s) hold")
        self.mark("bake passed")
        if checks:
            log_step(self.op, f"{label}: analysis passed ({self.summary(checks)}).", batch=batch)

    def keep_analysis(self, label: str, checks: list[analysis.Check], verdict: str) -> None:
        self.save_result(
            analysis={
                "label": label,
                "verdict": verdict,
                "at": timezone.now().isoformat(),
                "checks": [c.as_dict() for c in checks],
            }
        )

    @staticmethod
    def summary(checks: list[analysis.Check]) -> str:
        measured = sum(1 for c in checks if c.value is not None)
        return f"{measured} of {len(checks)} check(s) measured, none failed"

    def warmed_up_at(self, launched_at: datetime) -> datetime:
        return launched_at + timedelta(seconds=self.warmup())
