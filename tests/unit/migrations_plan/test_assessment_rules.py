"""Assessment: the suggested strategy and its reason, the target zone by the placement rules, validation."""

from __future__ import annotations

from datetime import date

import pytest

from migrations_plan.assessment import choose_zone, suggest_strategy
from migrations_plan.model import Criticality, Dependency, LegacySystem, Period, Strategy, ZoneInfo

from .factories import system


@pytest.mark.parametrize(
    ("tags", "strategy", "reason"),
    [
        ((), Strategy.rehost, "lift and shift"),
        (("End-of-Life",), Strategy.retire, "marked end-of-life"),
        (("mainframe",), Strategy.retain, "cannot run on the cloud's virtual machines"),
        (("saas-available",), Strategy.repurchase, "shared platform service"),
        (("vmware",), Strategy.relocate, "hypervisor level"),
        (("unsupported-os",), Strategy.replatform, "platform change"),
        (("rewrite-planned",), Strategy.refactor, "rebuilt"),
        (("vmware", "end-of-life"), Strategy.retire, "end-of-life"),  # retiring beats moving
    ],
)
def test_the_suggested_strategy_follows_the_tags(
    tags: tuple[str, ...], strategy: Strategy, reason: str
) -> None:
    suggested, why = suggest_strategy(system("x", tags=tags))
    assert suggested is strategy
    assert reason in why


EXTRANET = ZoneInfo("ext-2", "extranet", 2, free_vcpus=100, free_ram_mb=10**6, free_storage_gb=10**5)
EXTRANET_HIGH = ZoneInfo("ext-3", "extranet", 3, free_vcpus=500, free_ram_mb=10**6, free_storage_gb=10**5)
INTRANET = ZoneInfo("int-3", "intranet", 3, free_vcpus=100, free_ram_mb=10**6, free_storage_gb=10**5)
TINY = ZoneInfo("ext-tiny", "extranet", 4, free_vcpus=2)


def test_a_classified_system_goes_only_to_the_intranet() -> None:
    zone, reasons = choose_zone(system("x", classified=True), [EXTRANET, EXTRANET_HIGH, INTRANET])
    assert zone == INTRANET
    assert reasons[0].startswith("zone int-3: intranet")
    assert any("ext-2: classified (涉密) systems run only in intranet zones" in r for r in reasons)


def test_a_non_classified_system_prefers_the_extranet_and_the_lowest_sufficient_level() -> None:
    zone, _ = choose_zone(system("x", mlps_level=2), [INTRANET, EXTRANET_HIGH, EXTRANET])
    assert zone == EXTRANET
    zone, reasons = choose_zone(system("x", mlps_level=3), [INTRANET, EXTRANET_HIGH, EXTRANET])
    assert zone == EXTRANET_HIGH
    assert "zone ext-2: certified for MLPS level 2, the system needs 3" in reasons


def test_the_intranet_takes_a_non_classified_system_when_no_extranet_zone_fits() -> None:
    zone, reasons = choose_zone(system("x", mlps_level=3), [INTRANET, EXTRANET])
    assert zone == INTRANET
    assert "does not count towards the extranet target" in reasons[0]


def test_a_zone_without_room_is_rejected_and_none_left_means_no_zone() -> None:
    zone, reasons = choose_zone(system("x", vcpus=4), [TINY])
    assert zone is None
    assert reasons == [
        "no zone satisfies the placement rules",
        "zone ext-tiny: not enough free vcpus (needs 4, 2 free)",
    ]


def test_unknown_free_capacity_is_accepted_with_a_warning() -> None:
    unknown = ZoneInfo("ext-unknown", "extranet", 2)
    zone, reasons = choose_zone(system("x"), [unknown])
    assert zone == unknown
    assert "free capacity unknown" in reasons[0]


def test_values_are_validated_naming_the_field() -> None:
    fields = dict(
        code="x", department_code="d", classified=False, mlps_level=2, vcpus=1, ram_mb=1, storage_gb=1,
        bandwidth_mbps=1, criticality="high", cutover_hours=1.0,
    )  # fmt: skip
    assert LegacySystem(**fields).criticality is Criticality.high  # type: ignore[arg-type]
    for name, bad, message in [
        ("mlps_level", 5, "mlps_level: 5 is not a level from 1 to 4"),
        ("vcpus", -1, "vcpus: must not be negative"),
        ("cutover_hours", float("nan"), "cutover_hours: must not be negative"),
        ("criticality", "urgent", "criticality: 'urgent' is not one of low, medium, high, critical"),
        ("code", "", "code: must not be empty"),
    ]:
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            LegacySystem(**{**fields, name: bad})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ends: period ends 2026-01-01 before it starts 2026-02-01"):
        Period(date(2026, 2, 1), date(2026, 1, 1))
    with pytest.raises(ValueError, match="network: 'dmz' is not one of intranet, extranet"):
        ZoneInfo("z", "dmz", 2)
    with pytest.raises(ValueError, match="'sideways' is not a valid Coupling"):
        Dependency("a", "b", "sideways")  # type: ignore[arg-type]
