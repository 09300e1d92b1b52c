"""Assessment: a suggested 7R strategy per system, a target zone by the placement rules, input cycle checks.

The strategy rules are deliberately simple and readable; the operator decides (``LegacySystem.strategy``), the
suggestion only gives a starting point with its reason. The zone rules are the cloud's placement rules
(as cloudsvc's ``check_placement`` applies them to requests): classified (涉密) systems only in intranet
zones, and a zone certified for at least the system's MLPS level; then free capacity where it is known.
"""

from __future__ import annotations

from collections.abc import Sequence

from migrations_plan.graph import DependencyProblem, dependency_problems, find_cycles
from migrations_plan.model import LegacySystem, Network, Strategy, ZoneInfo

__all__ = ["DependencyProblem", "choose_zone", "dependency_problems", "find_cycles", "suggest_strategy"]

# Tags the operator puts on systems during discovery, in the order the rules consider them: the first that
# matches decides. Each is (tags, strategy, reason).
_TAG_RULES: tuple[tuple[frozenset[str], Strategy, str], ...] = (
    (
        frozenset({"end-of-life", "unused", "duplicate"}),
        Strategy.retire,
        "marked {tag}: switch it off rather than move it",
    ),
    (
        frozenset({"hardware-bound", "mainframe", "special-hardware"}),
        Strategy.retain,
        "marked {tag}: it cannot run on the cloud's virtual machines",
    ),
    (
        frozenset({"saas-available", "shared-platform-available"}),
        Strategy.repurchase,
        "marked {tag}: a shared platform service replaces it",
    ),
    (
        frozenset({"vmware", "virtualised"}),
        Strategy.relocate,
        "marked {tag}: already virtualised, it moves at hypervisor level without touching the guests",
    ),
    (
        frozenset({"unsupported-os", "legacy-os", "containerisable"}),
        Strategy.replatform,
        "marked {tag}: it moves with a platform change (supported OS image or containers)",
    ),
    (
        frozenset({"rewrite-planned", "cloud-native-target"}),
        Strategy.refactor,
        "marked {tag}: it is being rebuilt for the cloud",
    ),
)


def suggest_strategy(system: LegacySystem) -> tuple[Strategy, str]:
    """A suggested strategy and why, from the system's tags; rehost when no rule applies.

    Rehost is the default because it is the quickest, lowest-risk way onto the cloud, which is what the
    province's targets count; the other Rs need a reason the operator has recorded as a tag.
    """
    tags = {tag.strip().lower() for tag in system.tags}
    for rule_tags, strategy, reason in _TAG_RULES:
        matched = sorted(rule_tags & tags)
        if matched:
            return strategy, reason.format(tag=matched[0])
    return (
        Strategy.rehost,
        "no tag calls for another strategy: lift and shift is the quickest, lowest-risk move",
    )


def _rejection(system: LegacySystem, zone: ZoneInfo) -> str | None:
    if system.classified and zone.network != Network.intranet:
        return f"zone {zone.name}: classified (涉密) systems run only in intranet zones, it is {zone.network}"
    if system.mlps_level > zone.mlps_level:
        return (
            f"zone {zone.name}: certified for MLPS level {zone.mlps_level}, "
            f"the system needs {system.mlps_level}"
        )
    short = [
        f"{what} (needs {need}, {free} free)"
        for what, need, free in (
            ("vcpus", system.vcpus, zone.free_vcpus),
            ("ram_mb", system.ram_mb, zone.free_ram_mb),
            ("storage_gb", system.storage_gb, zone.free_storage_gb),
        )
        if free is not None and need > free
    ]
    if short:
        return f"zone {zone.name}: not enough free {', '.join(short)}"
    return None


def choose_zone(system: LegacySystem, zones: Sequence[ZoneInfo]) -> tuple[ZoneInfo | None, list[str]]:
    """The zone the system should move to, or None, with the reasons: the choice first, then each rejection.

    Among the zones the rules allow, prefer (in order): the network the province's targets count the system
    on (extranet for non-classified systems, intranet for classified ones); the lowest MLPS certification that
    suffices (keep high-assurance capacity for the systems that need it); known free capacity over unknown;
    the most free vcpus; then the name, so the choice is stable.
    """
    allowed: list[ZoneInfo] = []
    reasons: list[str] = []
    for zone in zones:
        rejection = _rejection(system, zone)
        if rejection is None:
            allowed.append(zone)
        else:
            reasons.append(rejection)
    if not allowed:
        return None, ["no zone satisfies the placement rules", *reasons]
    target_network = Network.intranet if system.classified else Network.extranet

    def preference(zone: ZoneInfo) -> tuple[bool, int, bool, int, str]:
        known = zone.free_vcpus is not None
        return (
            zone.network != target_network,
            zone.mlps_level,
            not known,
            -(zone.free_vcpus or 0),
            zone.name,
        )

    best = min(allowed, key=preference)
    why = (
        f"zone {best.name}: {best.network}, MLPS level {best.mlps_level} "
        f"covers the system's {system.mlps_level}"
    )
    if best.network != target_network:
        why += f" (no {target_network} zone fits, so it does not count towards the {target_network} target)"
    if best.free_vcpus is None:
        why += "; free capacity unknown, check it before the wave"
    return best, [why, *reasons]
