"""Lower bounds on the last wave: no plan can finish earlier, whatever the method.

Two kinds, combined by taking the largest:

- dependency chains: each group's earliest wave when capacity is ignored (its predecessors' earliest waves
  plus the lags, skipped forward past its own and the global blackouts);
- volume: for each capacity dimension, the groups that cannot start before wave t need at least
  ceil(demand / capacity) waves from t on, and the groups with a strict tail of q waves after them must all
  fit before the last q waves; groups larger than half a wave in a dimension cannot share a wave with each
  other. Waves in a global blackout hold nothing and are not counted as room.
"""

from __future__ import annotations

import math
from collections import defaultdict

from migrations_plan.instance import Instance


def earliest_waves(instance: Instance) -> list[int]:
    """Per group, the earliest wave its dependencies and blackouts allow, capacity ignored."""
    earliest = [1] * len(instance.groups)
    for group in instance.topological:
        start = max((earliest[p] + lag for p, lag, _ in instance.preds[group]), default=1)
        earliest[group] = instance.next_allowed(group, start)
    return earliest


def strict_tails(instance: Instance) -> list[int]:
    """Per group, the most ``before`` steps on a path from it to the end: waves that must follow it."""
    tail = [0] * len(instance.groups)
    for group in reversed(instance.topological):
        tail[group] = max((tail[s] + lag for s, lag in instance.succs[group]), default=0)
    return tail


def latest_waves(instance: Instance, last: int) -> list[int]:
    """Per group, the latest wave it may take for the plan to end by wave ``last``, capacity ignored.

    Below 1 when that is impossible; the heuristic uses these as deadlines (least slack first).
    """
    latest = [last] * len(instance.groups)
    for group in reversed(instance.topological):
        deadline = min((latest[s] - lag for s, lag in instance.succs[group]), default=last)
        latest[group] = instance.previous_allowed(group, deadline) if deadline >= 1 else deadline
    return latest


def _nth_open_wave(instance: Instance, start: int, n: int, group: int | None = None) -> int:
    """The n-th wave from ``start`` on that is not in a global blackout (nor in ``group``'s own)."""
    wave = start - 1
    for _ in range(n):
        wave = (
            instance.global_blocked.next_free(wave + 1)
            if group is None
            else instance.next_allowed(group, wave + 1)
        )
    return wave


def _blackout_bound(instance: Instance, earliest: list[int]) -> int:
    """The volume bound again for each set of groups sharing the same blocked waves (e.g. every finance
    system shut in tax season, or every system open only on Saturdays), counting only the waves open to
    them."""
    sharing: dict[tuple[tuple[tuple[int, int], ...], tuple[bool, ...]], list[int]] = defaultdict(list)
    for group, blocked in enumerate(instance.blocked):
        if blocked.ranges or blocked.closed:
            ranges = tuple((first, last) for first, last, _ in blocked.ranges)
            sharing[ranges, tuple(why is not None for why in blocked.closed)].append(group)
    best = 0
    for members in sharing.values():
        for dim, cap in enumerate(instance.capacity):
            volume = 0
            for group in sorted(members, key=earliest.__getitem__, reverse=True):
                volume += instance.demand[group][dim]
                waves = _nth_open_wave(instance, earliest[group], _waves(volume, cap), members[0])
                best = max(best, waves)
    return best


def lower_bound(instance: Instance, earliest: list[int], tails: list[int]) -> int:
    if not instance.groups:
        return 0
    best = max(earliest)
    for dim, cap in enumerate(instance.capacity):
        by_start: dict[int, list[int]] = defaultdict(list)
        by_tail: dict[int, list[int]] = defaultdict(list)
        for group, need in enumerate(instance.demand):
            by_start[earliest[group]].append(need[dim])
            by_tail[tails[group]].append(need[dim])
        # groups starting no earlier than t, taking thresholds from the latest down
        volume = big = 0
        for start in sorted(by_start, reverse=True):
            volume += sum(by_start[start])
            big += sum(1 for need in by_start[start] if 2 * need > cap)
            best = max(best, _nth_open_wave(instance, start, max(_waves(volume, cap), big)))
        volume = big = 0
        for tail in sorted(by_tail, reverse=True):
            volume += sum(by_tail[tail])
            big += sum(1 for need in by_tail[tail] if 2 * need > cap)
            best = max(best, _nth_open_wave(instance, 1, max(_waves(volume, cap), big)) + tail)
    return max(best, _blackout_bound(instance, earliest))


def _waves(volume: int, cap: int) -> int:
    # a positive volume always has a positive capacity: build() refuses groups larger than a wave
    return math.ceil(volume / cap) if volume else 0
