"""Why each system is in its wave, read off the finished plan (the same for every method).

For a system in wave w: the earliest wave its dependencies allow (and which dependency sets it), then for
each earlier wave from there, what kept it out: a blackout, no maintenance window of its opening in that
wave, or a wave already full in some dimension. A wave
where it would have fitted is said too: the plan does not finish later for it, and the solver chose so.
"""

from __future__ import annotations

from collections.abc import Sequence

from migrations_plan.instance import DIMENSIONS, Instance, shown

MAX_LISTED = 3  # skipped waves described one by one; more are summarised


def reasons(instance: Instance, waves: Sequence[int]) -> dict[str, str]:
    load: dict[int, list[int]] = {}
    for group, k in enumerate(waves):
        totals = load.setdefault(k, [0, 0, 0, 0])
        for d in range(4):
            totals[d] += instance.demand[group][d]
    last = max(waves, default=0)
    deps = instance.problem.dependencies
    explained: dict[str, str] = {}
    for group, members in enumerate(instance.groups):
        here = waves[group]
        parts: list[str] = []
        if len(members) > 1:
            partners = ", ".join(instance.codes[m] for m in members)
            parts.append(f"{len(members)} systems move together (same_wave or a not_after cycle): {partners}")
        earliest, setter = 1, None
        for pred, lag, position in instance.preds[group]:
            if waves[pred] + lag > earliest:
                earliest, setter = waves[pred] + lag, (pred, position)
        if setter is None:
            parts.append("no dependency holds it back")
        else:
            dep = deps[setter[1]]
            relation = "after" if dep.coupling == "before" else "no earlier than"
            parts.append(
                f"earliest wave {earliest}: {relation} its dependency {dep.depends_on} "
                f"(wave {waves[setter[0]]}, {dep.coupling})"
            )
        skipped = [_why_not(instance, group, k, load.get(k)) for k in range(earliest, here)]
        if len(skipped) > MAX_LISTED:
            parts.extend(skipped[: MAX_LISTED - 1])
            parts.append(f"… and {len(skipped) - MAX_LISTED + 1} more waves: {skipped[-1]}")
        else:
            parts.extend(skipped)
        if any(text.endswith("would fit") for text in skipped):
            parts.append(f"placed in wave {here} by the optimiser: the plan still ends in wave {last}")
        text = f"wave {here}: " + "; ".join(parts)
        for member in members:
            explained[instance.codes[member]] = text
    return explained


def _why_not(instance: Instance, group: int, wave: int, load: list[int] | None) -> str:
    blocked = instance.global_blocked.reason(wave) or instance.blocked[group].reason(wave)
    if blocked:
        return f"wave {wave} {blocked}"
    need = instance.demand[group]
    used = load or [0, 0, 0, 0]
    full = [
        f"{DIMENSIONS[d]} ({shown(d, used[d])} of {shown(d, instance.capacity[d])} used, "
        f"needs {shown(d, need[d])})"
        for d in range(4)
        if used[d] + need[d] > instance.capacity[d]
    ]
    if full:
        return f"wave {wave} full on {', '.join(full)}"
    return f"wave {wave} would fit"
