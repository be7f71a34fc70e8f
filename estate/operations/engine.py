"""Runs one operation: claim it, then carry out its steps, each recorded so a second worker resumes it.

Every call a worker makes here may be repeated by another worker after a crash: launches are
keyed by the Replacement row, terminations and progress are absolute (not increments), and
the lease (claim_token + lease_expires_at) makes sure only one worker acts at a time.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Count, F, Max, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from estate.audit.context import acting_as
from estate.core.cache import estate_changed
from estate.core.services import validated_save
from estate.inventory.choices import LIVE_INSTANCE_STATES, Health
from estate.inventory.models import Component, Image, Instance
from estate.operations import notices, rolling
from estate.operations.choices import OperationKind, OperationState, ReplacementState, StepLevel
from estate.operations.models import Operation, OperationStep, Replacement
from estate.operations.providers import ProviderError, provider_for
from estate.operations.recording import RecordedProvider

logger = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another worker holds the operation now; this one stops without touching it."""


class GateFailed(Exception):
    """A batch's new instances did not become healthy in time, or capacity would drop too low."""


class Cancelled(Exception):
    """A person asked to cancel: raised by the lease renewal inside every wait, so the wait stops now."""


def log_step(operation: Operation, message: str, *, level: str = StepLevel.INFO, batch: int | None = None) -> None:
    OperationStep.objects.create(operation=operation, message=message[:1000], level=level, batch=batch)


def _lease_until():
    return timezone.now() + timedelta(seconds=settings.OPERATIONS_LEASE_SECONDS)


def claim(operation_id: int) -> str | None:
    """Take the operation if it is queued, or held under a lease that ran out; the token, or None."""
    token = uuid.uuid4().hex
    now = timezone.now()
    claimable = Q(state=OperationState.QUEUED) | Q(
        state__in=(OperationState.RUNNING, OperationState.CANCELLING), lease_expires_at__lt=now
    )
    # One conditional UPDATE: of two workers holding the same message, exactly one gets a row back.
    updated = Operation.objects.filter(claimable, pk=operation_id).update(
        state=Case(
            When(state=OperationState.CANCELLING, then=Value(OperationState.CANCELLING)),
            default=Value(OperationState.RUNNING),
        ),
        started_at=Coalesce("started_at", now),
        claim_token=token,
        lease_expires_at=_lease_until(),
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    return token if updated else None


class TimedProvider:
    """The provider, with the time spent in its calls added up: Estate's own overhead is the rest."""

    CALLS = ("build_image", "launch", "refresh", "terminate", "start_rollout", "rollout_status")

    def __init__(self, provider):
        self.__dict__["_provider"] = provider
        self.__dict__["seconds"] = 0.0

    def __getattr__(self, name):
        value = getattr(self._provider, name)
        if name not in self.CALLS:
            return value

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                self.__dict__["seconds"] += time.perf_counter() - started

        return timed

    def __setattr__(self, name, value):
        setattr(self._provider, name, value)


class Run:
    """One worker's turn at an operation it has claimed."""

    def __init__(self, operation_id: int, token: str):
        self.token = token
        self.op = Operation.objects.select_related("component", "component__current_image").get(pk=operation_id)
        self.provider = None
        self.poll = settings.OPERATIONS_POLL_SECONDS

    # --- lease and state ---------------------------------------------------------------------
    def heartbeat(self) -> str:
        """Renew the lease; the operation's current state (a person may have asked to cancel)."""
        mine = Operation.objects.filter(pk=self.op.pk, claim_token=self.token)
        if not mine.update(lease_expires_at=_lease_until()):
            raise LeaseLost
        self.op.state = mine.values_list("state", flat=True).get()
        return self.op.state

    def keep_going(self) -> None:
        """Renew the lease inside a wait (the engine's and the provider's); Cancelled once a cancel is asked."""
        if self.heartbeat() == OperationState.CANCELLING:
            raise Cancelled

    def finish(self, state: str, *, error: str = "", message: str = "", level: str = StepLevel.INFO) -> None:
        spent = getattr(self.provider, "seconds", 0.0)
        self.op.result = {
            **self.op.result,
            "provider_seconds": round(self.op.result.get("provider_seconds", 0) + spent, 4),
        }
        with transaction.atomic():
            done = Operation.objects.filter(pk=self.op.pk, claim_token=self.token).update(
                result=self.op.result,
                state=state,
                error=error[:5000],
                finished_at=timezone.now(),
                lease_expires_at=None,
                claim_token="",
                updated_at=timezone.now(),
            )
            if not done:
                raise LeaseLost
            if message:
                log_step(self.op, message, level=level)
            notices.operation_ended(self.op, state, error)
        self.op.state = state
        estate_changed()
        from estate.operations import policies

        policies.operation_finished(self.op.pk)

    def pause(self, checkpoint: int) -> None:
        Operation.objects.filter(pk=self.op.pk, claim_token=self.token).update(
            state=OperationState.PAUSED,
            checkpoints_passed=[*self.op.checkpoints_passed, checkpoint],
            lease_expires_at=None,
            claim_token="",
        )
        log_step(self.op, f"Paused at the {checkpoint}% checkpoint; resume to continue.", level=StepLevel.WARNING)

    def save_result(self, **values) -> None:
        self.op.result = {**self.op.result, **values}
        Operation.objects.filter(pk=self.op.pk, claim_token=self.token).update(result=self.op.result)

    # --- entry -------------------------------------------------------------------------------
    def connect(self, *, heartbeat) -> None:
        """The component's provider, timed, its instance changes recorded, renewing the lease as it waits."""
        self.provider = RecordedProvider(TimedProvider(provider_for(self.op.component)))
        self.provider.heartbeat = heartbeat

    def actor(self) -> str:
        """Who the worker's writes are recorded as: the policy that started the operation, else the worker."""
        return f"policy:{self.op.component.slug}" if self.op.policy else "worker"

    def execute(self) -> None:
        with acting_as(self.actor(), on_behalf_of=self.op.requested_by_id):
            self.run()

    def run(self) -> None:
        try:
            try:
                self.keep_going()
                self.connect(heartbeat=self.keep_going)
                if self.op.kind == OperationKind.REBUILD_IMAGE:
                    self.rebuild()
                else:
                    self.roll()
            except Cancelled:
                self.cancelled()
        except LeaseLost:
            logger.info("operation %s: lease taken over by another worker", self.op.pk)
        except (ProviderError, GateFailed) as exc:
            self.fail(str(exc))
        except Exception as exc:  # noqa: BLE001 - the row must say why, whatever went wrong
            logger.exception("operation %s failed", self.op.pk)
            self.fail(repr(exc))

    def fail(self, error: str) -> None:
        try:
            self.finish(OperationState.FAILED, error=error, message=f"Failed: {error}", level=StepLevel.ERROR)
        except LeaseLost:
            logger.info("operation %s: lease taken over before its failure was recorded", self.op.pk)

    # --- rebuild -----------------------------------------------------------------------------
    def rebuild(self) -> None:
        component = self.op.component
        if "image_id" not in self.op.result:
            Operation.objects.filter(pk=self.op.pk).update(progress_total=1)
            log_step(self.op, f"Building a new image with the {self.provider.name} provider.")
            built = self.provider.build_image(self.op)
            self.heartbeat()
            with transaction.atomic():
                image, _ = Image.objects.get_or_create(
                    component=component, version=built["version"], defaults={"reference": built["reference"]}
                )
                self.save_result(image_id=image.pk, previous_image_id=component.current_image_id)
                log_step(self.op, f"Built image {image.version} ({image.reference}).")
            self.keep_going()  # the image is recorded either way; a cancel only keeps it from becoming current
        image = Image.objects.get(pk=self.op.result["image_id"])
        if self.op.params.get("make_current", True):
            self.make_current(image.pk)
            log_step(self.op, f"Image {image.version} is now current.")
        Operation.objects.filter(pk=self.op.pk).update(progress_done=1)
        self.finish(OperationState.SUCCEEDED, message="Rebuild finished.")

    def make_current(self, image_id: int) -> None:
        """Set the component's current image through validated_save, so the audit trail records the change."""
        with transaction.atomic():
            component = Component.objects.select_for_update().get(pk=self.op.component_id)
            if component.current_image_id == image_id:
                return
            component.current_image_id = image_id
            validated_save(component, message=f"By operation #{self.op.pk} ({self.op.get_kind_display().lower()}).")
        self.op.component.current_image_id = image_id

    # --- cancel ------------------------------------------------------------------------------
    def cancelled(self) -> None:
        """Stop now: take away the new instances of replacements that never finished, and say what was left."""
        if self.provider is not None:
            # The clean-up may wait on the provider too; it must not be cancelled in turn.
            self.provider.heartbeat = self.heartbeat
        try:
            terminated = self.terminate_unfinished()
        except ProviderError as exc:
            terminated = []
            log_step(self.op, f"Could not terminate the unfinished new instance(s): {exc}", level=StepLevel.ERROR)
        # A provider that rolls itself keeps its own count; replacements are counted only when planned here.
        done = self.progress() if self.op.result.get("planned") else self.op.progress_done
        self.finish(OperationState.CANCELLED, message=self.cancel_summary(done, terminated), level=StepLevel.WARNING)

    def terminate_unfinished(self) -> list[str]:
        """The external ids of the new instances terminated because their replacement was left unfinished."""
        reps = list(
            Replacement.objects.filter(
                operation=self.op, state=ReplacementState.LAUNCHED, new_instance__isnull=False
            ).select_related("new_instance")
        )
        if not reps:
            return []
        if self.provider is None:
            self.connect(heartbeat=self.heartbeat)
        news = [r.new_instance for r in reps]
        self.provider.terminate(self.op, news)  # repeatable: a second worker may do it again
        Replacement.objects.filter(pk__in=[r.pk for r in reps]).update(state=ReplacementState.ROLLED_BACK)
        return [i.external_id for i in news]

    def cancel_summary(self, done: int, terminated: list[str]) -> str:
        if self.op.kind == OperationKind.REBUILD_IMAGE:
            if "image_id" in self.op.result:
                return f"Cancelled; image #{self.op.result['image_id']} was built but not made current."
            return "Cancelled before an image was built."
        total = self.op.progress_total
        if self.op.result.get("rollout_started"):
            return (
                f"Cancelled after {done} of {total} updated; Estate stopped following the rollout, and the "
                "Deployment keeps rolling unless you pause it (kubectl rollout pause)."
            )
        parts = [f"Cancelled after {done} of {total} replacement(s)"]
        if total - done:
            parts.append(f"{total - done} instance(s) left as they were")
        if terminated:
            parts.append(f"unfinished new instance(s) terminated: {', '.join(terminated)}")
        return "; ".join(parts) + "."

    # --- roll / replace ----------------------------------------------------------------------
    def target_image(self) -> Image | None:
        image_id = self.op.params.get("image_id") or self.op.component.current_image_id
        return Image.objects.filter(pk=image_id, component=self.op.component).first() if image_id else None

    def plan(self) -> None:
        """Record, once, which instances this operation replaces."""
        if self.op.result.get("planned"):
            return
        live = Instance.objects.filter(component=self.op.component, state__in=LIVE_INSTANCE_STATES)
        if self.op.kind == OperationKind.REPLACE_INSTANCES:
            live = live.filter(pk__in=self.op.params.get("instance_ids", []))
        with transaction.atomic():
            rows = [Replacement(operation=self.op, old_instance=i) for i in live.order_by("launched_at", "pk")]
            Replacement.objects.bulk_create(rows, ignore_conflicts=True)
            total = Replacement.objects.filter(operation=self.op).count()
            Operation.objects.filter(pk=self.op.pk).update(progress_total=total)
            self.save_result(planned=True, previous_image_id=self.previous_image_id(live))
            log_step(self.op, f"Planned: replace {total} instance(s) in batches of {self.param('batch_size', 1)}.")

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

    def roll(self) -> None:
        if getattr(self.provider, "rolls_itself", False):
            self.rollout()
            return
        self.plan()
        image = self.target_image()
        while True:
            self.keep_going()
            batch = list(self.current_batch())
            if not batch:
                self.progress()
                self.finish(OperationState.SUCCEEDED, message="Every instance replaced.")
                return
            self.run_batch(batch, image)
            done = self.progress()
            checkpoint = rolling.checkpoint_due(
                done=done,
                total=self.op.progress_total,
                checkpoints=self.param("checkpoints", []),
                passed=self.op.checkpoints_passed,
            )
            if checkpoint is not None:
                self.pause(checkpoint)
                return

    def rollout(self) -> None:
        """A provider that replaces instances itself (Kubernetes): start its rollout once, then follow it."""
        image = self.target_image()
        if image is None:
            raise ProviderError("The component has no current image to roll onto.")
        if not self.op.result.get("rollout_started"):
            self.provider.start_rollout(self.op, image)
            self.save_result(rollout_started=True)
            log_step(self.op, f"Rollout onto {image.version} started with the {self.provider.name} provider.")
        timeout = self.health_timeout()
        deadline = time.monotonic() + timeout
        while True:
            self.keep_going()
            done, total, finished = self.provider.rollout_status()
            Operation.objects.filter(pk=self.op.pk).update(progress_done=done, progress_total=total)
            self.op.progress_done, self.op.progress_total = done, total
            if finished:
                self.finish(
                    OperationState.SUCCEEDED, message=f"Rollout finished: {done} of {total} updated and available."
                )
                return
            if time.monotonic() > deadline:
                raise GateFailed(f"Rollout did not finish within {timeout:g} s ({done} of {total} updated).")
            time.sleep(self.poll)

    def progress(self) -> int:
        done = Replacement.objects.filter(operation=self.op, state=ReplacementState.DONE).count()
        total = Replacement.objects.filter(operation=self.op).count()
        Operation.objects.filter(pk=self.op.pk).update(progress_done=done, progress_total=total)
        self.op.progress_done, self.op.progress_total = done, total
        return done

    def current_batch(self):
        """The batch a previous worker started (resume it), else the next pending instances."""
        rows = Replacement.objects.filter(operation=self.op).select_related("old_instance", "new_instance")
        started = rows.filter(state=ReplacementState.LAUNCHED)
        if started.exists():
            return started
        pending = rows.filter(state=ReplacementState.PENDING)
        size = rolling.next_batch_size(
            remaining=pending.count(),
            batch_size=int(self.param("batch_size", 1)),
            max_unavailable=self.param("max_unavailable", None),
        )
        return pending[:size]

    def run_batch(self, batch: list[Replacement], image: Image | None) -> None:
        last = Replacement.objects.filter(operation=self.op).aggregate(m=Max("batch"))["m"] or 0
        number = batch[0].batch or last + 1
        for rep in batch:
            if rep.new_instance_id is None:
                # Outside a transaction: a provider may wait for a callback that must see its request row.
                # A crash before the save repeats the launch, which the provider keys on this replacement.
                rep.new_instance = self.provider.launch(self.op, rep, image)
                rep.batch = number
                rep.state = ReplacementState.LAUNCHED
                rep.save(update_fields=["new_instance", "batch", "state", "updated_at"])
                self.keep_going()
        olds = ", ".join(r.old_instance.external_id for r in batch)
        log_step(self.op, f"Batch {number}: launched replacements for {olds}; waiting for health.", batch=number)
        try:
            self.gate(batch, number)
            self.retire_olds(batch, number)
        except GateFailed:
            if self.param("rollback", False):
                self.roll_back(batch, number)
            raise
        log_step(self.op, f"Batch {number}: {len(batch)} instance(s) replaced.", batch=number)

    def new_instances(self, batch: list[Replacement]) -> list[Instance]:
        return list(Instance.objects.filter(pk__in=[r.new_instance_id for r in batch]))

    def gate(self, batch: list[Replacement], number: int) -> None:
        """Wait until every new instance of the batch is healthy, or fail after the timeout."""
        timeout = self.health_timeout()
        deadline = time.monotonic() + timeout
        while True:
            instances = self.new_instances(batch)
            self.provider.refresh(self.op, instances)
            instances = self.new_instances(batch)
            down = [i for i in instances if i.health == Health.DOWN]
            if down:
                raise GateFailed(f"Batch {number}: {down[0].external_id} reported {down[0].health_reason or 'down'}.")
            if instances and all(i.health == Health.HEALTHY for i in instances):
                log_step(self.op, f"Batch {number}: health gate passed.", batch=number)
                return
            if time.monotonic() > deadline:
                raise GateFailed(f"Batch {number}: new instances were not healthy within {timeout:g} s.")
            self.keep_going()
            time.sleep(self.poll)

    def retire_olds(self, batch: list[Replacement], number: int) -> None:
        """Terminate the old instances without dropping healthy capacity under the minimum."""
        component = self.op.component
        floor = rolling.min_healthy(
            desired=component.desired_instances or 0,
            min_healthy_percentage=int(self.param("min_healthy_percentage", 100)),
        )
        timeout = self.health_timeout()
        deadline = time.monotonic() + timeout
        pending = list(batch)
        while pending:
            olds = Instance.objects.filter(pk__in=[r.old_instance_id for r in pending])
            healthy_olds = [i.pk for i in olds if i.health == Health.HEALTHY and i.state in LIVE_INSTANCE_STATES]
            healthy = Instance.objects.filter(
                component=component, state__in=LIVE_INSTANCE_STATES, health=Health.HEALTHY
            ).count()
            allowed = rolling.healthy_terminations_allowed(healthy=healthy, healthy_olds=len(healthy_olds), floor=floor)
            go = [r for r in pending if r.old_instance_id not in healthy_olds]
            go += [r for r in pending if r.old_instance_id in healthy_olds][:allowed]
            if go:
                self.provider.terminate(self.op, [r.old_instance for r in go])  # repeatable if we die here
                Replacement.objects.filter(pk__in=[r.pk for r in go]).update(state=ReplacementState.DONE)
                pending = [r for r in pending if r not in go]
                continue
            if time.monotonic() > deadline:
                raise GateFailed(f"Batch {number}: terminating more would drop healthy capacity under {floor}.")
            self.keep_going()
            time.sleep(self.poll)

    def roll_back(self, batch: list[Replacement], number: int) -> None:
        """Take the failed batch's new instances away, keep the old ones, and make their image current again."""
        reps = [r for r in batch if r.new_instance_id and r.state == ReplacementState.LAUNCHED]
        self.provider.terminate(self.op, self.new_instances(reps))
        Replacement.objects.filter(pk__in=[r.pk for r in reps]).update(state=ReplacementState.ROLLED_BACK)
        previous = self.op.result.get("previous_image_id")
        if previous and previous != self.op.component.current_image_id:
            self.make_current(previous)
            log_step(self.op, f"Image #{previous} is current again.", level=StepLevel.WARNING, batch=number)
        log_step(
            self.op,
            f"Batch {number}: rolled back; {len(reps)} new instance(s) terminated, the old ones kept.",
            level=StepLevel.WARNING,
            batch=number,
        )


def execute(operation_id: int) -> None:
    """Claim the operation and run it; a no-op when another worker has it or it is finished."""
    token = claim(operation_id)
    if token is None:
        return
    Run(operation_id, token).execute()
