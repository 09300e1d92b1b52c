"""The fast planner: fill waves one after the other, the most urgent ready groups first.

A group is ready for wave k once all its predecessors have a wave and their lags allow k. Wave by wave,
ready groups are taken in priority order and placed if the wave has room in every dimension and none of
their blackouts covers it; what does not fit waits for the next wave. Urgency is the number of ``before``
steps still to follow the group (its strict tail: a long chain started late stretches the whole plan),
then its size (large groups are hard to fit later, as in first-fit decreasing bin packing). Several priority
rules are tried and the shortest plan kept; linear in the inventory per rule, up to heap operations.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Sequence

from migrations_plan.instance import Instance

# After this many groups in a row that do not fit, a wave counts as full: scanning the rest of a long ready
# list for a small enough group costs more than it gains on large inventories.
MISSES_BEFORE_FULL = 64

Priority = Callable[[int], tuple[float, ...]]


def priority_rules(instance: Instance, tails: Sequence[int]) -> list[Priority]:
    cap = instance.capacity
    fill = [
        sum(need[d] / cap[d] for d in range(4) if cap[d]) for need in instance.demand
    ]  # share of a wave it takes, summed over dimensions
    peak = [max((need[d] / cap[d] for d in range(4) if cap[d]), default=0.0) for need in instance.demand]
    successors = [len(s) for s in instance.succs]
    return [
        lambda g: (-tails[g], -peak[g], -fill[g]),
        lambda g: (-tails[g], -fill[g]),
        lambda g: (-tails[g], -successors[g], -peak[g]),
        lambda g: (-peak[g] - tails[g], -fill[g]),
    ]


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


def best_schedule(instance: Instance, tails: Sequence[int], limit: int | None) -> list[int] | None:
    """The shortest plan over the priority rules (ties: the first rule's)."""
    best: list[int] | None = None
    for rule in priority_rules(instance, tails):
        waves = schedule(instance, rule, limit)
        if waves is not None and (best is None or max(waves, default=0) < max(best, default=0)):
            best = waves
    return best
