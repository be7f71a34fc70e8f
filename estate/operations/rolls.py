"""The steps of a roll or replace: plan (heal first), batches, warm-up, health gate, retiring, roll-back.

A mixin of engine.Run (which holds the claim, the lease, the result and the waits). Every step is
safe to run again after a wake-up or a takeover: what it did is in the Replacement rows and in the
operation's result (its marks), and a step that must wait raises Snooze through Run.wait_or_fail.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from estate.inventory.choices import LIVE_INSTANCE_STATES, Health
from estate.inventory.models import Component, Image, Instance
from estate.operations import providers, rolling
from estate.operations.choices import OperationKind, OperationState, ReplacementState, StepLevel
from estate.operations.flow import GateFailed, log_step
from estate.operations.gates import AnalysisSteps
from estate.operations.models import Operation, Replacement
from estate.operations.providers import ProviderError
from estate.operations.providers.base import Snooze


class RollSteps(AnalysisSteps):
    """Roll and replace, for engine.Run: uses its op, provider, keep_going, finish, pause and waits."""

    def target_image(self) -> Image | None:
        image_id = self.op.params.get("image_id") or self.op.component.current_image_id
        return Image.objects.filter(pk=image_id, component=self.op.component).first() if image_id else None

    def plan(self) -> None:
        """Record, once, which instances this operation replaces, sickest first, and the launches a roll
        adds to reach the component's desired count (first of all: they add capacity, take none away)."""
        if self.op.result.get("planned"):
            return
        live = Instance.objects.filter(component=self.op.component, state__in=LIVE_INSTANCE_STATES)
        if self.op.kind == OperationKind.REPLACE_INSTANCES:
            live = live.filter(pk__in=self.op.params.get("instance_ids", []))
        olds = sorted(live, key=lambda i: (rolling.heal_rank(health=i.health, tainted=i.tainted), i.launched_at, i.pk))
        missing = self.missing_count(len(olds))
        with transaction.atomic():
            rows = [Replacement(operation=self.op) for _ in range(missing)]
            rows += [Replacement(operation=self.op, old_instance=i) for i in olds]
            Replacement.objects.bulk_create(rows, ignore_conflicts=True)
            total = Replacement.objects.filter(operation=self.op).count()
            Operation.objects.filter(pk=self.op.pk).update(progress_total=total)
            self.save_result(planned=True, added=missing, previous_image_id=self.previous_image_id(live))
            log_step(self.op, self.plan_summary(olds, missing))

    def missing_count(self, live: int) -> int:
        """How many instances a roll launches beside its replacements to reach the desired count."""
        if self.op.kind != OperationKind.ROLL_COMPONENT:
            return 0
        return max(0, (self.op.component.desired_instances or 0) - live)

    def plan_summary(self, olds: list[Instance], missing: int) -> str:
        sick = sum(1 for i in olds if rolling.heal_rank(health=i.health, tainted=i.tainted) < rolling.HEALTHY_RANK)
        parts = [f"Planned: replace {len(olds)} instance(s)"]
        if sick:
            parts.append(f"the {sick} tainted or unhealthy first")
        if missing:
            desired = self.op.component.desired_instances
            parts.append(f"launch {missing} missing instance(s) first to reach the desired {desired}")
        return ", ".join(parts) + f"; in batches of {self.param('batch_size', 1)}."

    def previous_image_id(self, live) -> int | None:
        """The image most of the instances being replaced run: what a roll-back returns to."""
        row = live.exclude(image=None).values("image").annotate(n=Count("pk")).order_by("-n", "image").first()
        return row["image"] if row else None

    def param(self, name: str, default):
        value = self.op.params.get(name)
        return default if value in (None, "") else value

    def health_timeout(self) -> float:
        """How long a wait may last; rows stored before the bound existed are held to it as well."""
        timeout = float(self.param("health_timeout_seconds", settings.OPERATIONS_DEFAULT_HEALTH_TIMEOUT_SECONDS))
        return min(timeout, settings.OPERATIONS_MAX_WAIT_SECONDS)

    def warmup(self) -> float:
        return min(float(self.param("warmup_seconds", settings.OPERATIONS_DEFAULT_WARMUP_SECONDS)),
                   settings.OPERATIONS_MAX_WAIT_SECONDS)  # fmt: skip

    def roll(self) -> None:
        if getattr(self.provider, "rolls_itself", False):
            self.rollout()
            return
        self.plan()
        while True:
            self.keep_going()
            back = self.rolling_back()
            batch = self.current_batch()
            if not batch:
                self.progress()
                if back:
                    self.finish_rolled_back()
                else:
                    self.finish(OperationState.SUCCEEDED, message=self.done_summary())
                return
            try:
                self.run_batch(batch, self.rollback_image() if back else self.target_image())
            except GateFailed as exc:
                if back:
                    raise GateFailed(f"{self.op.result['failure']} The roll-back then failed too: {exc}") from exc
                if not self.param("rollback", False):
                    raise
                self.begin_rollback(batch, str(exc))
                continue
            done = self.progress()
            checkpoint = None if back else rolling.checkpoint_due(
                done=done,
                total=self.op.progress_total,
                checkpoints=self.param("checkpoints", []),
                passed=self.op.checkpoints_passed,
            )  # fmt: skip
            if checkpoint is not None:
                self.pause(checkpoint)
                return

    def done_summary(self) -> str:
        added = self.op.result.get("added", 0)
        if not added:
            return "Every instance replaced."
        replaced = self.op.progress_done - added
        return (
            f"Every instance replaced ({replaced}), and {added} launched to reach the desired "
            f"{self.op.component.desired_instances}."
        )

    def rollout(self) -> None:
        """A provider that replaces instances itself (Kubernetes): start its rollout once, follow it, then hold
        it to the same warm-up and analysis as a batch; a failure with rollback undoes the rollout."""
        back = self.rolling_back()
        if not self.op.result.get("rollout_started"):
            self.start_rollout()
        timeout = self.health_timeout()
        self.keep_going()
        done, total, finished = self.provider.rollout_status()
        Operation.objects.filter(pk=self.op.pk).update(progress_done=done, progress_total=total)
        self.op.progress_done, self.op.progress_total = done, total
        try:
            if not finished:
                what = "The undo" if back else "Rollout"
                self.wait_or_fail(
                    "rollout",
                    timeout,
                    f"{what} did not finish within {timeout:g} s ({done} of {total} updated).",
                    waiting=f"Following the {'undo' if back else 'rollout'}: {done} of {total} updated",
                )
            if back:
                self.finish_undone()
                return
            self.bake_rollout()
        except GateFailed as exc:
            if back:
                raise GateFailed(f"{self.op.result['failure']} {exc}") from exc
            if not self.param("rollback", False):
                raise
            self.undo_rollout(str(exc))
            raise Snooze(0, "Undoing the rollout") from exc
        self.finish(OperationState.SUCCEEDED, message=f"Rollout finished: {done} of {total} updated and available.")

    def start_rollout(self) -> None:
        image = self.target_image()
        if image is None:
            raise ProviderError("The component has no current image to roll onto.")
        previous = self.provider.current_reference()
        self.provider.start_rollout(self.op, image)
        self.save_result(rollout_started=True, previous_reference=previous)
        log_step(self.op, f"Rollout onto {image.version} started with the {self.provider.name} provider.")

    def bake_rollout(self) -> None:
        """Warm-up from the moment the rollout finished, then the analysis over the whole component."""
        finished_at = self.marks().get("rollout finished")
        if finished_at is None:
            finished_at = time.time()
            self.mark("rollout finished", finished_at)
            log_step(self.op, f"Rollout finished; warming up for {self.warmup():g} s, then the analysis.")
        warm = finished_at + self.warmup() - time.time()
        if warm > 0:
            raise Snooze(warm, "Rollout finished: warming up")
        since = datetime.fromtimestamp(finished_at, tz=UTC) + timedelta(seconds=self.warmup())
        started = self.op.started_at or since
        self.analyse("Rollout", since=since, before=started - timedelta(seconds=max(self.bake_seconds(), 60)))

    def undo_rollout(self, reason: str) -> None:
        """Point the Deployment back at what it ran before the rollout (kubectl rollout undo), then follow it."""
        previous = self.op.result.get("previous_reference")
        if not previous:
            raise GateFailed(f"{reason} Nothing to undo to: the Deployment's previous image is unknown.")
        self.provider.undo_rollout(self.op, previous)
        image = self.rollback_image() or Image.objects.filter(component=self.op.component, reference=previous).first()
        if image is not None and image.pk != self.op.component.current_image_id:
            self.make_current(image.pk)
        self.save_result(rolling_back=True, failure=reason, marks={}, rollback_reference=previous)
        log_step(self.op, f"{reason} Undoing the rollout: the Deployment goes back to {previous}.",
                 level=StepLevel.WARNING)  # fmt: skip

    def finish_undone(self) -> None:
        reason, previous = self.op.result.get("failure", ""), self.op.result.get("rollback_reference")
        done = f"Rolled back: the Deployment runs {previous} again."
        self.finish(OperationState.FAILED, error=f"{reason} {done}", message=f"Failed. {done}", level=StepLevel.ERROR)

    def progress(self) -> int:
        """Done of total in the current phase: the roll, or once it failed, its roll-back (if it has any)."""
        rows = Replacement.objects.filter(operation=self.op, rollback=self.rolling_back())
        if self.rolling_back() and not rows.exists():
            rows = Replacement.objects.filter(operation=self.op, rollback=False)
        done = rows.filter(state=ReplacementState.DONE).count()
        total = rows.count()
        Operation.objects.filter(pk=self.op.pk).update(progress_done=done, progress_total=total)
        self.op.progress_done, self.op.progress_total = done, total
        return done

    def current_batch(self) -> list[Replacement]:
        """The batch under way (resume it), else the next pending replacements, numbered now.

        A batch is numbered before anything is launched, so a batch whose launches span several
        wake-ups (a CI/CD that answers later) stays one batch."""
        every = Replacement.objects.filter(operation=self.op)
        rows = every.filter(rollback=self.rolling_back()).select_related("old_instance", "new_instance")
        started = list(
            rows.filter(state__in=(ReplacementState.PENDING, ReplacementState.LAUNCHED), batch__isnull=False)
        )
        if started:
            return started
        pending = rows.filter(state=ReplacementState.PENDING)
        size = rolling.next_batch_size(
            remaining=pending.count(),
            batch_size=int(self.param("batch_size", 1)),
            max_unavailable=self.param("max_unavailable", None),
        )
        chosen = list(pending[:size])
        if not chosen:
            return []
        number = (every.aggregate(m=Max("batch"))["m"] or 0) + 1  # a roll-back's batches follow the roll's
        Replacement.objects.filter(pk__in=[r.pk for r in chosen]).update(batch=number)
        self.save_result(marks={})  # a new batch: its waits and messages start afresh
        for rep in chosen:
            rep.batch = number
        return chosen

    def run_batch(self, batch: list[Replacement], image: Image | None) -> None:
        number = batch[0].batch
        for rep in batch:
            if rep.new_instance_id is None:
                # Outside a transaction: a provider may wait for a callback that must see its request row.
                # A crash before the save repeats the launch, which the provider keys on this replacement.
                rep.new_instance = self.provider.launch(self.op, rep, image)
                rep.state = ReplacementState.LAUNCHED
                rep.save(update_fields=["new_instance", "batch", "state", "updated_at"])
                self.keep_going()
        self.log_once("launched", self.launch_summary(batch, number), batch=number)
        self.gate(batch, number)
        if not self.rolling_back():  # a roll-back returns to what ran before: no analysis holds it up
            instances = self.new_instances(batch)
            self.analyse(
                f"Batch {number}",
                since=self.warmed_up_at(max(i.launched_at for i in instances)),
                before=min(i.launched_at for i in instances) - timedelta(seconds=max(self.bake_seconds(), 60)),
                replaced=[r.old_instance_id for r in batch if r.old_instance_id],
                batch=number,
            )
        self.retire_olds(batch, number)
        count = Replacement.objects.filter(operation=self.op, batch=number).count()
        log_step(self.op, f"Batch {number}: {count} instance(s) replaced.", batch=number)

    def launch_summary(self, batch: list[Replacement], number: int) -> str:
        olds = ", ".join(r.old_instance.external_id for r in batch if r.old_instance_id)
        added = sum(1 for r in batch if r.old_instance_id is None)
        what = [f"replacements for {olds}"] if olds else []
        what += [f"{added} missing instance(s)"] if added else []
        return (
            f"Batch {number}: launched {' and '.join(what)}; warming up for {self.warmup():g} s, then the health gate."
        )

    def new_instances(self, batch: list[Replacement]) -> list[Instance]:
        return list(Instance.objects.filter(pk__in=[r.new_instance_id for r in batch]))

    def warming_up(self, instances: list[Instance]) -> float:
        """Seconds until the last of the new instances has warmed up (0 once all have): every provider."""
        if not instances:
            return 0.0
        ready = max(i.launched_at for i in instances) + timedelta(seconds=self.warmup())
        return max(0.0, (ready - timezone.now()).total_seconds())

    def gate(self, batch: list[Replacement], number: int) -> None:
        """Pass once every new instance of the batch is healthy, after its warm-up; fail on a down one or
        at the timeout (counted from the first look, warm-up included); else snooze until the next look."""
        if self.marks().get("gate passed"):
            return
        timeout = self.health_timeout()
        too_slow = f"Batch {number}: new instances were not healthy within {timeout:g} s."
        instances = self.new_instances(batch)
        warm = self.warming_up(instances)
        if warm > 0:
            self.wait_or_fail("gate", timeout, too_slow, retry_in=warm, waiting=f"Batch {number}: warming up")
        self.provider.refresh(self.op, instances)
        instances = self.new_instances(batch)
        down = [i for i in instances if i.health == Health.DOWN]
        if down:
            raise GateFailed(f"Batch {number}: {down[0].external_id} reported {down[0].health_reason or 'down'}.")
        if instances and all(i.health == Health.HEALTHY for i in instances):
            log_step(self.op, f"Batch {number}: health gate passed.", batch=number)
            self.mark("gate passed")
            return
        self.wait_or_fail(
            "gate", timeout, too_slow, waiting=f"Batch {number}: waiting for the new instances to be healthy"
        )

    def retire_olds(self, batch: list[Replacement], number: int) -> None:
        """Terminate the old instances without dropping healthy capacity under the minimum.

        Only healthy old instances count: one that is down, degraded, unknown or tainted-and-unhealthy
        may always go once its replacement passed the gate. Snoozes while a healthy one must stay."""
        component = self.op.component
        floor = rolling.min_healthy(
            desired=component.desired_instances or 0,
            min_healthy_percentage=int(self.param("min_healthy_percentage", 100)),
        )
        pending = [r for r in batch if r.state != ReplacementState.DONE]
        olds = {
            i.pk: i for i in Instance.objects.filter(pk__in=[r.old_instance_id for r in pending if r.old_instance_id])
        }
        healthy_olds = [pk for pk, i in olds.items() if i.health == Health.HEALTHY and i.state in LIVE_INSTANCE_STATES]
        healthy = Instance.objects.filter(
            component=component, state__in=LIVE_INSTANCE_STATES, health=Health.HEALTHY
        ).count()
        allowed = rolling.healthy_terminations_allowed(healthy=healthy, healthy_olds=len(healthy_olds), floor=floor)
        go = [r for r in pending if r.old_instance_id not in healthy_olds]
        go += [r for r in pending if r.old_instance_id in healthy_olds][:allowed]
        if go:
            self.provider.terminate(self.op, [olds[r.old_instance_id] for r in go if r.old_instance_id])
            Replacement.objects.filter(pk__in=[r.pk for r in go]).update(state=ReplacementState.DONE)
            for rep in go:
                rep.state = ReplacementState.DONE
        if len(go) < len(pending):
            timeout = self.health_timeout()
            self.wait_or_fail(
                "retire",
                timeout,
                f"Batch {number}: terminating more would drop healthy capacity under {floor}.",
                waiting=f"Batch {number}: waiting for healthy capacity to retire the old instances (at least {floor})",
            )

    # --- roll-back: every batch returns to the previous image ----------------------------------
    def rolling_back(self) -> bool:
        return bool(self.op.result.get("rolling_back"))

    def rollback_image(self) -> Image | None:
        previous = self.op.result.get("previous_image_id")
        return Image.objects.filter(pk=previous, component=self.op.component).first() if previous else None

    def begin_rollback(self, batch: list[Replacement], reason: str) -> None:
        """The batch failed: take its new instances away (the old ones were kept), skip the batches not
        started, and queue a replacement on the previous image for every instance already replaced."""
        number = batch[0].batch
        launched = [r for r in batch if r.new_instance_id and r.state == ReplacementState.LAUNCHED]
        self.provider.terminate(self.op, self.new_instances(launched))
        previous, target = self.rollback_image(), self.target_image()
        undo = previous is not None and previous != target
        with transaction.atomic():
            Replacement.objects.filter(pk__in=[r.pk for r in launched]).update(state=ReplacementState.ROLLED_BACK)
            forward = Replacement.objects.filter(operation=self.op, rollback=False)
            forward.filter(state=ReplacementState.PENDING).update(state=ReplacementState.SKIPPED)
            replaced = list(
                forward.filter(state=ReplacementState.DONE, new_instance__state__in=LIVE_INSTANCE_STATES).values_list(
                    "new_instance_id", flat=True
                )
            )
            if undo:
                rows = [Replacement(operation=self.op, old_instance_id=pk, rollback=True) for pk in replaced]
                Replacement.objects.bulk_create(rows, ignore_conflicts=True)
            self.save_result(rolling_back=True, failure=reason, marks={})
        if undo:
            self.make_current(previous.pk)
        log_step(self.op, self.rollback_summary(reason, number, len(launched), replaced if undo else [], previous),
                 level=StepLevel.WARNING, batch=number)  # fmt: skip

    @staticmethod
    def rollback_summary(reason: str, number: int, terminated: int, replaced: list, previous: Image | None) -> str:
        text = f"{reason} Rolling back: batch {number}'s {terminated} new instance(s) terminated, the old ones kept"
        if replaced:
            return text + f"; {len(replaced)} instance(s) already replaced go back to image {previous.version}."
        return text + "; no earlier batch to undo."

    def finish_rolled_back(self) -> None:
        reason = self.op.result.get("failure", "")
        back = Replacement.objects.filter(operation=self.op, rollback=True, state=ReplacementState.DONE).count()
        image = self.rollback_image()
        if back:
            done = f"Rolled back: {back} instance(s) back on image {image.version}, which is current again."
        else:
            done = "Rolled back: the failing batch's new instances were terminated; nothing else had been replaced."
        self.finish(OperationState.FAILED, error=f"{reason} {done}", message=f"Failed. {done}", level=StepLevel.ERROR)


def roll_refusal(component: Component, kind: str) -> str | None:
    """Why a roll of this component has nothing to do, or None: it wants no instances and has none.

    A roll brings a component to its desired count, so "0 of 0 replaced" would be a success that
    hides a missing desired count. A provider that rolls itself keeps its own count."""
    if kind != OperationKind.ROLL_COMPONENT or component.desired_instances:
        return None
    if providers.rolls_itself(component):
        return None
    if Instance.objects.filter(component=component, state__in=LIVE_INSTANCE_STATES).exists():
        return None
    return (
        f"{component.name} wants no instances (desired_instances is {component.desired_instances or 0}) and has "
        "none, so a roll has nothing to do; set desired_instances."
    )
