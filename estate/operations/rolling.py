"""The rolling algorithm's arithmetic, kept pure so its capacity invariant can be tested exhaustively."""

from __future__ import annotations

import math

# Heal first: the order a roll or replace takes instances in (as Kubernetes deletes not-ready pods first).
# A tainted or down instance serves nobody (or must go anyway), a degraded or unknown one serves badly;
# replacing them first heals the component soonest and never costs healthy capacity.
SICK_RANK, UNWELL_RANK, HEALTHY_RANK = 0, 1, 2


def heal_rank(*, health: str, tainted: bool) -> int:
    """0 for tainted or down, 1 for degraded, unknown or in maintenance, 2 for healthy."""
    if tainted or health == "down":
        return SICK_RANK
    return HEALTHY_RANK if health == "healthy" else UNWELL_RANK


def min_healthy(*, desired: int, min_healthy_percentage: int) -> int:
    """How many healthy instances must stay up: the floor no termination may cross."""
    return math.ceil(desired * min_healthy_percentage / 100)


def next_batch_size(*, remaining: int, batch_size: int, max_unavailable: int | None) -> int:
    size = min(remaining, max(batch_size, 1))
    if max_unavailable:
        size = min(size, max_unavailable)
    return size


def healthy_terminations_allowed(*, healthy: int, healthy_olds: int, floor: int) -> int:
    """How many of a batch's healthy old instances may go now without healthy capacity dropping under floor.

    New instances are launched (and gated) before old ones are terminated, so in a normal batch
    every old one may go; fewer when other instances have turned unhealthy meanwhile.
    """
    return max(0, min(healthy_olds, healthy - floor))


def checkpoint_due(*, done: int, total: int, checkpoints: list[int], passed: list[int]) -> int | None:
    """The first checkpoint percentage reached but not yet paused at; none once everything is done."""
    if not total or done >= total:
        return None
    percent = 100 * done / total
    for checkpoint in sorted(checkpoints):
        if percent >= checkpoint and checkpoint not in passed:
            return checkpoint
    return None
