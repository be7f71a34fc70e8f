"""Runs one operation: claim it, then carry out its steps, each recorded so a second worker resumes it.

Every call a worker makes here may be repeated by another worker after a crash: launches are
keyed by the Replacement row, terminations and progress are absolute (not increments), and
the lease (claim_token + lease_expires_at) makes sure only one worker acts at a time.

Nothing here sleeps. A step that must wait (warm-up, a health gate, capacity to retire old
instances, a provider's callback or rollout) raises Snooze: the worker releases the operation
with its lease set to the wake-up time and queues a wake-up message with that countdown, then
takes other work. The wait's deadline is kept in the operation's result, so it holds across
wake-ups and workers; a lost wake-up message is re-sent by the sweep once the lease has run out.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from estate.audit.context import acting_as
from estate.core.cache import estate_changed
from estate.core.services import validated_save
from estate.inventory.models import Component, Image
from estate.operations import notices
from estate.operations.choices import OperationKind, OperationState, ReplacementState, StepLevel
from estate.operations.flow import Cancelled, GateFailed, LeaseLost, log_step
from estate.operations.kinds import runner_for
from estate.operations.models import Operation, Replacement
from estate.operations.providers import ProviderError, provider_for
from estate.operations.providers.base import Snooze
from estate.operations.recording import RecordedProvider
from estate.operations.rolls import RollSteps, roll_refusal

__all__ = ["Cancelled", "GateFailed", "LeaseLost", "Run", "claim", "execute", "log_step", "roll_refusal"]

logger = logging.getLogger(__name__)


def _lease_until():
    return timezone.now() + timedelta(seconds=settings.OPERATIONS_LEASE_SECONDS)


HELD = (OperationState.RUNNING, OperationState.CANCELLING)
# A running operation nobody holds is waiting (snoozed); its lease_expires_at is its wake-up time.
SNOOZED = Q(state__in=HELD, claim_token="")


def claim(operation_id: int) -> str | None:
    """Take the operation if it is queued, held under a lease that ran out, or waiting and due (or
    cancelling: a cancel need not wait for the wake-up); the token, or None."""
    token = uuid.uuid4().hex
    now = timezone.now()
    claimable = (
        Q(state=OperationState.QUEUED)
        | Q(state__in=HELD, lease_expires_at__lt=now)
        | Q(state=OperationState.CANCELLING, claim_token="")
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
        # A wake-up is the same attempt going on; a takeover from a dead worker is a new one.
        attempts=Case(When(SNOOZED, then=F("attempts")), default=F("attempts") + 1),
        updated_at=now,
    )
    return token if updated else None


# While the broker is down the worker can take no other work, so it may as well keep trying to queue
# a wake-up for a while before it leaves it to the sweep.
WAKE_RETRY_SECONDS = 30


def wake_later(operation_id: int, seconds: float) -> None:
    """Queue the wake-up once the release is committed. A broker still down after WAKE_RETRY_SECONDS
    is not an error: the row is marked undispatched and the sweep sends it once the lease has run out."""

    def send() -> None:
        from estate.operations.tasks import run_operation

        give_up = time.monotonic() + WAKE_RETRY_SECONDS
        pause = 0.5
        while True:
            try:
                run_operation.apply_async((operation_id,), countdown=seconds, retry=False)
                return
            except Exception:  # noqa: BLE001 - any broker failure: try again, then leave it to the sweep
                if time.monotonic() + pause > give_up:
                    logger.warning("operation %s: wake-up not queued, the sweep will send it", operation_id)
                    Operation.objects.filter(pk=operation_id).update(dispatched_at=None)
                    return
            time.sleep(pause)  # only while the broker is down, when there is no other work to take
            pause = min(pause * 2, 2)

    transaction.on_commit(send)


class TimedProvider:
    """The provider, with the time spent in its calls added up: Estate's own overhead is the rest."""

    CALLS = ("build_image", "launch", "refresh", "terminate", "start_rollout", "rollout_status", "undo_rollout",
             "current_reference")  # fmt: skip

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


class Run(RollSteps):
    """One worker's turn at an operation it has claimed."""

    def __init__(self, operation_id: int, token: str):
        self.token = token
        self.op = Operation.objects.select_related("component", "component__current_image").get(pk=operation_id)
        self.provider = None
        self.poll = settings.OPERATIONS_POLL_SECONDS
        self.banked = 0.0  # provider seconds already added to the result in this turn

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

    def bank_provider_seconds(self) -> None:
        """Add this turn's time in provider calls to the result (a run spans many turns)."""
        spent = getattr(self.provider, "seconds", 0.0) - self.banked
        self.banked += spent
        self.op.result = {
            **self.op.result,
            "provider_seconds": round(self.op.result.get("provider_seconds", 0) + spent, 4),
        }

    def finish(self, state: str, *, error: str = "", message: str = "", level: str = StepLevel.INFO) -> None:
        self.bank_provider_seconds()
        self.op.result.pop("waiting", None)
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
        self.bank_provider_seconds()
        Operation.objects.filter(pk=self.op.pk, claim_token=self.token).update(
            result=self.op.result,
            state=OperationState.PAUSED,
            checkpoints_passed=[*self.op.checkpoints_passed, checkpoint],
            lease_expires_at=None,
            claim_token="",
        )
        log_step(self.op, f"Paused at the {checkpoint}% checkpoint; resume to continue.", level=StepLevel.WARNING)

    def save_result(self, **values) -> None:
        self.op.result = {**self.op.result, **values}
        Operation.objects.filter(pk=self.op.pk, claim_token=self.token).update(result=self.op.result)

    # --- waiting without a worker ------------------------------------------------------------
    def snooze(self, seconds: float, why: str) -> None:
        """Give the worker back: release the claim, the lease running out at the wake-up time, and queue
        the wake-up. Bounded: a cancel is seen at the next wake-up, at most MAX_SNOOZE seconds away."""
        seconds = min(max(seconds, 0.01), settings.OPERATIONS_MAX_SNOOZE_SECONDS)
        self.bank_provider_seconds()
        now = timezone.now()
        with transaction.atomic():
            released = Operation.objects.filter(pk=self.op.pk, claim_token=self.token).update(
                result={**self.op.result, "waiting": why[:300]},
                claim_token="",
                lease_expires_at=now + timedelta(seconds=seconds),
                dispatched_at=now,
                updated_at=now,
            )
            if not released:
                raise LeaseLost
            wake_later(self.op.pk, seconds)

    def marks(self) -> dict:
        """What the current step has already done or said, and its waits' deadlines; cleared per batch."""
        return self.op.result.get("marks", {})

    def mark(self, key: str, value=True) -> None:
        self.save_result(marks={**self.marks(), key: value})

    def log_once(self, key: str, message: str, **kwargs) -> None:
        """A step logged once, however many wake-ups pass through the code that says it."""
        if not self.marks().get(f"said:{key}"):
            log_step(self.op, message, **kwargs)
            self.mark(f"said:{key}")

    def wait_or_fail(
        self, key: str, timeout: float, failure: str, *, waiting: str, retry_in: float | None = None
    ) -> None:
        """Snooze until the next look (the row says what it waits for), or GateFailed(failure) once the wait
        named `key`, counted from its first look (the deadline is kept in the row, so it holds across
        wake-ups and workers), has lasted `timeout`."""
        deadline = self.marks().get(f"deadline:{key}")
        if deadline is None:
            deadline = time.time() + timeout
            self.mark(f"deadline:{key}", deadline)
        left = deadline - time.time()
        if left <= 0:
            raise GateFailed(failure)
        until = timezone.now() + timedelta(seconds=left)
        raise Snooze(min(retry_in or self.poll, left), f"{waiting} (at most until {until:%H:%M:%S} UTC)")

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
                try:
                    self.keep_going()
                    if runner := runner_for(self.op.kind):  # a kind a higher app runs (a runbook run)
                        runner(self)
                        return
                    self.connect(heartbeat=self.keep_going)
                    if self.op.kind == OperationKind.REBUILD_IMAGE:
                        self.rebuild()
                    else:
                        self.roll()
                except Cancelled:
                    self.cancelled()
            except Snooze as nap:
                self.snooze(nap.seconds, str(nap))
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
            self.log_once("build", f"Building a new image with the {self.provider.name} provider.")
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


def execute(operation_id: int) -> None:
    """Claim the operation and run it; a no-op when another worker has it or it is finished."""
    token = claim(operation_id)
    if token is None:
        return
    Run(operation_id, token).execute()
