"""The fast planner: fill waves one after the other, the most urgent ready groups first.

A group is ready for wave k once all its predecessors have a wave and their lags allow k. Wave by wave,
ready groups are taken in priority order and placed if the wave has room in every dimension and none of
their blackouts covers it; what does not fit waits for the next wave. Urgency comes from the group's
deadline or strict tail (see ``best_schedule``), then its size (large groups are hard to fit later, as in
first-fit decreasing bin packing). Several rules are tried and the shortest plan kept; each run is linear
in the inventory, up to heap operations.

Each plan is then improved by forward-backward justification (as for list schedules in project
scheduling): every group, the latest first, moves to the latest wave that still fits before its successors
and the plan's end; then every group, the earliest first, moves back to the earliest wave that fits after
its predecessors. The right shift gathers the slack at the start, the left shift packs it away, and the
end often moves in by a wave or two; it repeats while it does. It never makes a plan longer.
"""

from __future__ import annotations

import heapq
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence

from migrations_plan.bounds import latest_waves
from migrations_plan.instance import Instance

# After this many groups in a row that do not fit, a wave counts as full: scanning the rest of a long ready
# list for a small enough group costs more than it gains on large inventories.
MISSES_BEFORE_FULL = 64

RESTARTS = 200  # randomised runs at most, within the time budget
MIN_TARGETS = 3  # deadline targets always tried, budget or not: on a busy machine they still find the plan

Priority = Callable[[int], tuple[float, ...]]


def _sizes(instance: Instance) -> tuple[list[float], list[float]]:
    """Per group: the largest share of a wave it takes in any dimension, and the shares summed."""
    cap = instance.capacity
    dims = [d for d in range(4) if cap[d]]
    peak = [max((need[d] / cap[d] for d in dims), default=0.0) for need in instance.demand]
    fill = [sum(need[d] / cap[d] for d in dims) for need in instance.demand]
    return peak, fill


def schedule(instance: Instance, priority: Priority, limit: int | None) -> list[int] | None:
    """A wave per group, or None if some group could not be placed by wave ``limit``."""
    count = len(instance.groups)
    wave = [0] * count
    waiting = [len(p) for p in instance.preds]
    release = [1] * count
    key = [(*priority(g), g) for g in range(count)]
    future: dict[int, list[int]] = defaultdict(list)  # wave number -> groups that become ready then
    pool: list[tuple[float, ...]] = []  # ready groups, as their keys (the group is the last element)
    for group in range(count):
        if waiting[group] == 0:
            future[instance.next_allowed(group, 1)].append(group)
    placed, current, cap = 0, 0, instance.capacity
    while placed < count:
        current = current + 1 if pool else min(future)
        if limit is not None and current > limit:
            return None
        for group in future.pop(current, []):
            heapq.heappush(pool, key[group])
        if instance.global_blocked.reason(current) is not None:
            continue
        load = [0, 0, 0, 0]
        skipped: list[tuple[float, ...]] = []
        misses = 0
        while pool and load[0] < cap[0] and misses < MISSES_BEFORE_FULL:
            item = heapq.heappop(pool)
            group = int(item[-1])
            need = instance.demand[group]
            if instance.blocked[group].reason(current) is not None:
                future[instance.next_allowed(group, current)].append(group)
                continue
            if any(load[d] + need[d] > cap[d] for d in range(4)):
                skipped.append(item)
                misses += 1
                continue
            misses = 0
            for d in range(4):
                load[d] += need[d]
            wave[group] = current
            placed += 1
            for successor, lag in instance.succs[group]:
                release[successor] = max(release[successor], current + lag)
                waiting[successor] -= 1
                if waiting[successor] == 0:
                    ready = instance.next_allowed(successor, release[successor])
                    if ready == current:
                        heapq.heappush(pool, key[successor])
                    else:
                        future[ready].append(successor)
        for item in skipped:
            heapq.heappush(pool, item)
    return wave


def _loads(instance: Instance, waves: Sequence[int]) -> dict[int, list[int]]:
    load: dict[int, list[int]] = {}
    for group, k in enumerate(waves):
        totals = load.setdefault(k, [0, 0, 0, 0])
        for d in range(4):
            totals[d] += instance.demand[group][d]
    return load


def _shift(instance: Instance, waves: list[int], load: dict[int, list[int]], group: int, to: int) -> None:
    need = instance.demand[group]
    here, there = load[waves[group]], load.setdefault(to, [0, 0, 0, 0])
    for d in range(4):
        here[d] -= need[d]
        there[d] += need[d]
    waves[group] = to


def _fits(instance: Instance, load: dict[int, list[int]], group: int, wave: int) -> bool:
    used = load.get(wave)
    if used is None:
        return True  # nothing there yet: build() refused groups larger than a wave
    need, cap = instance.demand[group], instance.capacity
    return all(used[d] + need[d] <= cap[d] for d in range(4))


def _right_shifted(instance: Instance, waves: list[int], last: int) -> None:
    """Each group, latest first (successors before their predecessors within a wave: group numbers are
    topological), to the latest wave before its successors and ``last`` where it is allowed and fits."""
    load = _loads(instance, waves)
    for group in sorted(range(len(waves)), key=lambda g: (-waves[g], -g)):
        latest = min((waves[s] - lag for s, lag in instance.succs[group]), default=last)
        for k in range(latest, waves[group], -1):
            if instance.allowed(group, k) and _fits(instance, load, group, k):
                _shift(instance, waves, load, group, k)
                break


def _left_shifted(instance: Instance, waves: list[int]) -> None:
    """Each group, earliest first, to the earliest wave after its predecessors where it is allowed and
    fits."""
    load = _loads(instance, waves)
    for group in sorted(range(len(waves)), key=lambda g: (waves[g], g)):
        earliest = max((waves[p] + lag for p, lag, _ in instance.preds[group]), default=1)
        for k in range(earliest, waves[group]):
            if instance.allowed(group, k) and _fits(instance, load, group, k):
                _shift(instance, waves, load, group, k)
                break


def justified(instance: Instance, waves: Sequence[int]) -> list[int]:
    """Forward-backward improvement of a valid plan, repeated while its last wave moves in."""
    improved = list(waves)
    while improved:
        last = max(improved)
        _right_shifted(instance, improved, last)
        _left_shifted(instance, improved)
        if max(improved) >= last:
            break
    return improved


def _by_deadline(latest: Sequence[int], tails: Sequence[int], peak: Sequence[float]) -> Priority:
    return lambda g: (latest[g], -tails[g], -peak[g])


def _blurred(latest: Sequence[int], blur: Sequence[float], peak: Sequence[float]) -> Priority:
    return lambda g: (latest[g] + blur[g], -peak[g])


def best_schedule(
    instance: Instance, tails: Sequence[int], lower: int, limit: int | None, budget_s: float
) -> list[int] | None:
    """The shortest plan found by the priority rules within about ``budget_s`` seconds.

    First by strict tail (the critical path), then by deadlines: for a target last wave T from the lower
    bound up, each group's latest wave that still lets the plan end by T given its successors' blackouts
    (``latest_waves``), least slack first. Deadlines see what tails cannot: a finance system that must
    move before tax season closes its window. The sweep stops at the bound, once the target reaches the
    best plan, or when the budget is spent; randomised restarts follow (below).
    """
    stop = time.monotonic() + budget_s
    peak, fill = _sizes(instance)

    def run(priority: Priority) -> list[int] | None:
        waves = schedule(instance, priority, limit)
        return None if waves is None else justified(instance, waves)

    best = run(lambda g: (-tails[g], -peak[g], -fill[g]))
    target = lower
    while best is None or max(best) > lower:
        if best is not None and target >= max(best):
            break
        if time.monotonic() > stop and best is not None and target >= lower + MIN_TARGETS:
            break
        if limit is not None and target > limit:
            break
        waves = run(_by_deadline(latest_waves(instance, target), tails, peak))
        if waves is not None and (best is None or max(waves) < max(best)):
            best = waves
        target += 1
    # Randomised restarts with what is left of the budget: a random target below the best plan, and
    # deadlines blurred by up to two waves, which lets groups of similar urgency trade places.
    rng = random.Random(0)  # noqa: S311 - search diversity, not secrets; seeded: same problem, same plan
    for _ in range(RESTARTS):
        goal = max(best) - 1 if best is not None else limit
        if goal is None or goal < lower or time.monotonic() > stop:
            break
        latest = latest_waves(instance, rng.randint(lower, goal))
        blur = [rng.random() * rng.choice((0, 1, 2)) for _ in latest]
        waves = run(_blurred(latest, blur, peak))
        if waves is not None and (best is None or max(waves) < max(best)):
            best = waves
    return best
