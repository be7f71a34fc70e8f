"""The capacity invariant of the rolling algorithm, property-based: healthy capacity never drops under the floor."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from estate.operations import rolling


@st.composite
def estates(draw):
    desired = draw(st.integers(min_value=1, max_value=40))
    healthy = draw(st.lists(st.booleans(), min_size=desired, max_size=desired))
    return {
        "healthy": healthy,
        "batch_size": draw(st.integers(min_value=1, max_value=desired + 2)),
        "max_unavailable": draw(st.one_of(st.none(), st.integers(min_value=1, max_value=desired))),
        "pct": draw(st.integers(min_value=0, max_value=100)),
        "new_ok": draw(st.lists(st.booleans(), min_size=desired, max_size=desired)),
        "decay": draw(st.lists(st.integers(min_value=0, max_value=desired - 1), max_size=5)),
    }


def simulate(e) -> None:
    """Run the engine's decisions over an in-memory estate, checking capacity after every termination."""
    instances = [{"old": True, "healthy": h, "live": True} for h in e["healthy"]]
    floor = rolling.min_healthy(desired=len(instances), min_healthy_percentage=e["pct"])
    todo = list(range(len(instances)))
    decay = list(e["decay"])
    while todo:
        size = rolling.next_batch_size(
            remaining=len(todo), batch_size=e["batch_size"], max_unavailable=e["max_unavailable"]
        )
        batch, todo = todo[:size], todo[size:]
        new = [{"old": False, "healthy": e["new_ok"][i], "live": True} for i in batch]
        instances.extend(new)
        if not all(n["healthy"] for n in new):
            return  # the gate fails: nothing is terminated
        if decay:  # another instance turns unhealthy while the batch warms up
            instances[decay.pop() % len(instances)]["healthy"] = False
        healthy_now = sum(i["healthy"] and i["live"] for i in instances)
        olds = [instances[i] for i in batch]
        healthy_olds = [o for o in olds if o["healthy"]]
        allowed = rolling.healthy_terminations_allowed(healthy=healthy_now, healthy_olds=len(healthy_olds), floor=floor)
        for old in [o for o in olds if not o["healthy"]] + healthy_olds[:allowed]:
            old["live"] = False
            after = sum(i["healthy"] and i["live"] for i in instances)
            assert after >= min(floor, healthy_now)
        if allowed < len(healthy_olds):
            return  # the engine waits, then fails at the timeout; capacity is untouched


@settings(max_examples=300, deadline=None)
@given(estates())
def test_rolling_never_drops_healthy_capacity_under_the_minimum(e):
    simulate(e)


@given(st.integers(0, 1000), st.integers(1, 100), st.one_of(st.none(), st.integers(1, 100)))
def test_batch_is_never_larger_than_asked_or_than_max_unavailable(remaining, batch_size, max_unavailable):
    size = rolling.next_batch_size(remaining=remaining, batch_size=batch_size, max_unavailable=max_unavailable)
    assert 0 <= size <= min(remaining, batch_size, max_unavailable or batch_size)
    assert remaining == 0 or size >= 1


def test_checkpoints_pause_once_each_and_never_after_the_end():
    assert rolling.checkpoint_due(done=2, total=4, checkpoints=[50], passed=[]) == 50
    assert rolling.checkpoint_due(done=2, total=4, checkpoints=[50], passed=[50]) is None
    assert rolling.checkpoint_due(done=3, total=4, checkpoints=[25, 50], passed=[25]) == 50
    assert rolling.checkpoint_due(done=4, total=4, checkpoints=[50], passed=[]) is None
