"""The dependency graph as wave constraints: groups that must share a wave, and cycles no plan can satisfy.

Every dependency is an edge ``depends_on -> system`` with a lag: ``wave(system) >= wave(depends_on) + lag``,
lag 1 for ``before`` and 0 for ``not_after``; ``same_wave`` is a pair of lag-0 edges, one each way. Systems in
one strongly connected component must then share a wave (a lag-0 cycle forces equality), and a component with
a lag-1 edge inside it is a contradiction: that is the only way dependencies can make a plan impossible.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from migrations_plan.model import Coupling, Dependency, LegacySystem


class Arc(NamedTuple):
    """``wave(head) >= wave(tail) + lag``; ``dependency`` is the input edge's position in its list."""

    tail: int
    head: int
    lag: int
    dependency: int


@dataclass(frozen=True)
class DependencyProblem:
    """Something in the dependency list that makes planning impossible, for an import's error report."""

    kind: str  # "unknown_system" or "cycle"
    systems: tuple[str, ...]
    message: str
    dependency_index: int | None = None  # position in the input list, for unknown systems


def arcs_of(index: dict[str, int], dependencies: Iterable[Dependency]) -> list[Arc]:
    """The lag arcs between known systems (edges naming unknown systems are left out)."""
    arcs: list[Arc] = []
    same_wave, before = Coupling.same_wave, Coupling.before
    for position, dep in enumerate(dependencies):
        tail, head = index.get(dep.depends_on), index.get(dep.system)
        if tail is None or head is None:
            continue
        coupling = dep.coupling
        if coupling == same_wave:
            arcs.append(Arc(tail, head, 0, position))
            arcs.append(Arc(head, tail, 0, position))
        else:
            arcs.append(Arc(tail, head, 1 if coupling == before else 0, position))
    return arcs


def strong_components(size: int, arcs: Sequence[Arc]) -> list[int]:
    """Tarjan's algorithm without recursion (inventories run to 10,000s): node -> component number.

    Components are numbered in reverse topological order of the condensed graph (a sink gets 0).
    """
    successors: list[list[int]] = [[] for _ in range(size)]
    for arc in arcs:
        successors[arc.tail].append(arc.head)
    order = [-1] * size
    low = [0] * size
    component = [-1] * size
    stack: list[int] = []
    on_stack = [False] * size
    counter = components = 0
    for root in range(size):
        if order[root] >= 0:
            continue
        work: list[tuple[int, int]] = [(root, 0)]
        order[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            node, position = work[-1]
            if position < len(successors[node]):
                work[-1] = (node, position + 1)
                nxt = successors[node][position]
                if order[nxt] < 0:
                    order[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack[nxt] = True
                    work.append((nxt, 0))
                elif on_stack[nxt]:
                    low[node] = min(low[node], order[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == order[node]:
                while True:
                    member = stack.pop()
                    on_stack[member] = False
                    component[member] = components
                    if member == node:
                        break
                components += 1
    return component


def _path_within(start: int, goal: int, allowed: int, component: list[int], arcs: Sequence[Arc]) -> list[int]:
    """Shortest path start -> goal through nodes of component ``allowed`` (it exists: same component)."""
    successors: dict[int, list[int]] = {}
    for arc in arcs:
        if component[arc.tail] == allowed and component[arc.head] == allowed:
            successors.setdefault(arc.tail, []).append(arc.head)
    previous = {start: start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            break
        for nxt in successors.get(node, []):
            if nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    path = [goal]
    while path[-1] != start:
        path.append(previous[path[-1]])
    return path[::-1]


def strict_cycles(codes: Sequence[str], arcs: Sequence[Arc], component: list[int]) -> list[list[str]]:
    """One cycle through a strict (lag-1) arc per component that holds one: each makes any plan impossible."""
    cycles: list[list[str]] = []
    seen: set[int] = set()
    for arc in arcs:
        comp = component[arc.tail]
        if arc.lag == 0 or comp != component[arc.head] or comp in seen:
            continue
        seen.add(comp)
        if arc.tail == arc.head:
            cycles.append([codes[arc.tail]])
            continue
        back = _path_within(arc.head, arc.tail, comp, component, arcs)
        cycles.append([codes[arc.tail]] + [codes[node] for node in back[:-1]])
    return cycles


def find_cycles(systems: Sequence[LegacySystem], dependencies: Sequence[Dependency]) -> list[list[str]]:
    """Dependency cycles that make every plan impossible, each as system codes in dependency order.

    A cycle ``[a, b, c]`` reads: b depends on a, c on b, a on c, with at least one ``before`` among them
    (cycles of only ``same_wave``/``not_after`` just force one wave and are fine). Dependencies naming systems
    not in ``systems`` are ignored here; :func:`dependency_problems` reports them.
    """
    codes = [system.code for system in systems]
    index = {code: i for i, code in enumerate(codes)}
    arcs = arcs_of(index, dependencies)
    return strict_cycles(codes, arcs, strong_components(len(codes), arcs))


def dependency_problems(
    systems: Sequence[LegacySystem], dependencies: Sequence[Dependency]
) -> list[DependencyProblem]:
    """Everything wrong with a dependency list: unknown system codes (with the edge's position) and cycles."""
    known = {system.code for system in systems}
    problems: list[DependencyProblem] = []
    for position, dep in enumerate(dependencies):
        unknown = tuple(code for code in (dep.system, dep.depends_on) if code not in known)
        if unknown:
            problems.append(
                DependencyProblem(
                    kind="unknown_system",
                    systems=unknown,
                    message=f"dependency {dep} names unknown system {', '.join(unknown)}",
                    dependency_index=position,
                )
            )
    for cycle in find_cycles(systems, dependencies):
        loop = " -> ".join([*cycle, cycle[0]])
        problems.append(
            DependencyProblem(
                kind="cycle",
                systems=tuple(cycle),
                message=f"dependency cycle with a 'before' edge, no plan can satisfy it: {loop}",
            )
        )
    return problems
