"""Cycle detection for import reports: only cycles with a strict ('before') edge make a plan impossible."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from migrations_plan.assessment import dependency_problems, find_cycles
from migrations_plan.model import Coupling, Dependency

from .factories import dep, system

ABCD = [system(code) for code in "abcd"]


def test_a_before_loop_is_a_cycle_in_dependency_order() -> None:
    assert find_cycles(ABCD, [dep("b", "a", "before"), dep("a", "b", "before")]) in (
        [["a", "b"]],
        [["b", "a"]],
    )


def test_loops_of_same_wave_and_not_after_only_are_fine() -> None:
    deps = [dep("b", "a", "not_after"), dep("a", "b", "not_after"), dep("c", "b", "same_wave")]
    assert find_cycles(ABCD, deps) == []


def test_a_same_wave_pair_with_a_before_edge_is_a_cycle() -> None:
    assert find_cycles(ABCD, [dep("b", "a", "same_wave"), dep("b", "a", "before")]) == [["a", "b"]]


def test_a_mixed_loop_through_a_before_edge_lists_its_systems() -> None:
    deps = [dep("b", "a", "before"), dep("c", "b", "not_after"), dep("a", "c", "not_after"), dep("d", "a")]
    assert find_cycles(ABCD, deps) == [["a", "b", "c"]]


def test_a_system_before_itself_is_a_cycle() -> None:
    assert find_cycles(ABCD, [dep("a", "a", "before"), dep("b", "b", "not_after")]) == [["a"]]


def test_separate_cycles_are_each_reported() -> None:
    deps = [dep("b", "a"), dep("a", "b"), dep("d", "c"), dep("c", "d")]
    assert sorted(sorted(cycle) for cycle in find_cycles(ABCD, deps)) == [["a", "b"], ["c", "d"]]


def test_unknown_codes_are_reported_with_the_edge_position() -> None:
    problems = dependency_problems(ABCD, [dep("a", "b"), dep("a", "ghost"), dep("b", "a")])
    kinds = [(p.kind, p.systems, p.dependency_index) for p in problems]
    assert ("unknown_system", ("ghost",), 1) in kinds
    assert ("cycle", ("a", "b"), None) in kinds or ("cycle", ("b", "a"), None) in kinds
    assert "a -> b -> a" in problems[-1].message or "b -> a -> b" in problems[-1].message


def _satisfiable(count: int, deps: list[Dependency]) -> bool:
    """Some assignment of waves 1..count satisfies every edge (enough waves for any acyclic case)."""
    lag = {Coupling.before: 1, Coupling.not_after: 0}
    for waves in itertools.product(range(count), repeat=count):
        w = dict(zip("abcd", waves, strict=False))
        if all(
            w[d.system] == w[d.depends_on]
            if d.coupling == Coupling.same_wave
            else w[d.system] >= w[d.depends_on] + lag[d.coupling]
            for d in deps
        ):
            return True
    return False


edges = st.lists(
    st.builds(dep, st.sampled_from("abcd"), st.sampled_from("abcd"), st.sampled_from(list(Coupling))),
    max_size=6,
)


@settings(max_examples=100, deadline=None)
@given(deps=edges)
def test_cycles_are_found_exactly_when_no_waves_satisfy_the_edges(deps: list[Dependency]) -> None:
    cycles = find_cycles(ABCD, deps)
    assert (cycles == []) == _satisfiable(4, deps)
    for cycle in cycles:  # each reported cycle is a real loop of input edges
        linked = {(d.depends_on, d.system) for d in deps} | {
            (d.system, d.depends_on) for d in deps if d.coupling == Coupling.same_wave
        }
        for tail, head in itertools.pairwise([*cycle, cycle[0]]):
            assert (tail, head) in linked
