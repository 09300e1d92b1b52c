"""Wave planning time and quality on random realistic inventories, against the CP-SAT optimum.

Inventories of 100, 300, 1,000 and 10,000 legacy systems: shared platforms (a 50th of the systems) and
departments of 5 to 30 systems, grouped into applications of 1 to 3 tightly coupled parts (same_wave);
about 3 dependencies per system, on a platform and on earlier applications of its department (70%
not_after, 30% before); 2 to 64 vcpus; finance departments (12%) blacked out in tax season (March to
June), everyone at Spring Festival and National Day. Waves last 14 days and hold a 22nd of the inventory.

For each: the heuristic's time, waves and lower bound; on instances of at most 300 systems CP-SAT too (the
baseline, --cp-sat-seconds each), with the optimum when proven (by CP-SAT, or by a plan reaching a bound),
else the range [best bound, best plan]; the heuristic's ratio to the best plan known (the optimum where
proven, else a lower estimate of the true ratio) and to the bound (an upper estimate); and the last wave of
method "auto" with its default 10 s limit (what the API gets).
Goals: 10,000 systems planned in under 10 s; small instances within 1.05x of the optimum.
Run: .venv/bin/python -m bench.wave_planner [--sizes 100 300 1000 10000] [--seeds 3] [--cp-sat-seconds 60]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import date

from migrations_plan.model import Coupling, Dependency, LegacySystem, Period
from migrations_plan.planner import PlanningProblem, WaveCapacity, plan_waves, violations

FIRST_WAVE = date(2027, 1, 4)
WAVE_DAYS = 14
VCPUS = (2, 2, 4, 4, 4, 8, 8, 8, 16, 16, 32, 64)
HOLIDAYS = (
    Period(date(2027, 2, 3), date(2027, 2, 14), "Spring Festival"),
    Period(date(2027, 10, 1), date(2027, 10, 7), "National Day"),
    Period(date(2028, 1, 22), date(2028, 2, 2), "Spring Festival"),
)
TAX_SEASONS = (
    Period(date(2027, 3, 1), date(2027, 6, 30), "tax season"),
    Period(date(2028, 3, 1), date(2028, 6, 30), "tax season"),
)


def inventory(size: int, seed: int) -> PlanningProblem:
    rng = random.Random(seed)
    systems: list[LegacySystem] = []
    dependencies: list[Dependency] = []
    applications: list[list[str]] = []
    platforms: list[str] = []  # shared services (identity, data exchange, payment) everyone depends on
    department_apps: list[list[str]] = []
    department, left_in_department, finance = 0, 0, False

    def add(code: str, blackouts: tuple[Period, ...]) -> LegacySystem:
        return LegacySystem(
            code=code,
            department_code=f"D{department:04d}",
            classified=rng.random() < 0.15,
            mlps_level=rng.choice((1, 2, 2, 3, 3, 4)),
            vcpus=rng.choice(VCPUS),
            ram_mb=rng.choice((4, 8, 16, 32, 64)) * 1024,
            storage_gb=rng.randint(50, 4000),
            bandwidth_mbps=rng.choice((10, 50, 100)),
            criticality=rng.choice(("low", "medium", "medium", "high", "critical")),
            cutover_hours=rng.choice((1.0, 2.0, 2.5, 4.0, 6.0, 8.0, 12.0)),
            blackouts=blackouts,
        )

    def depend(code: str, on: list[str], strict_share: float) -> None:
        coupling = Coupling.before if rng.random() < strict_share else Coupling.not_after
        dependencies.append(Dependency(code, rng.choice(on), coupling))

    for _ in range(max(3, size // 50)):
        code = f"SYS-{len(systems):05d}"
        systems.append(add(code, ()))
        if platforms:
            depend(code, platforms, 0.5)
        platforms.append(code)
        applications.append([code])
    while len(systems) < size:
        if left_in_department == 0:
            department += 1
            left_in_department = rng.randint(5, 30)
            finance = rng.random() < 0.12
            department_apps = []
        parts = min(rng.choice((1, 1, 1, 2, 2, 3)), size - len(systems))
        application: list[str] = []
        for _ in range(parts):
            code = f"SYS-{len(systems):05d}"
            systems.append(add(code, TAX_SEASONS if finance else ()))
            if application:
                dependencies.append(Dependency(code, application[0], Coupling.same_wave))
            application.append(code)
            left_in_department = max(0, left_in_department - 1)
        # about 3 dependencies per system: a shared platform, and earlier applications of its department
        for code in application:
            depend(code, platforms, 0.3)
            for _ in range(rng.choice((1, 2, 2, 3)) if department_apps else 0):
                depend(code, rng.choice(department_apps), 0.3)
        department_apps.append(application)
        applications.append(application)
    # a 22nd of the inventory per wave (a 25th of the systems), and never less than the largest application
    by_code = {s.code: s for s in systems}

    def need(what: str) -> float:
        largest = max(sum(getattr(by_code[c], what) for c in app) for app in applications)
        return float(max(sum(getattr(s, what) for s in systems) / 22, largest))

    return PlanningProblem(
        systems=tuple(systems),
        dependencies=tuple(dependencies),
        capacity=WaveCapacity(
            systems=max(size // 25, max(len(app) for app in applications)),
            vcpus=int(need("vcpus")),
            storage_gb=int(need("storage_gb")),
            cutover_hours=need("cutover_hours"),
        ),
        first_wave_starts=FIRST_WAVE,
        wave_days=WAVE_DAYS,
        blackouts=HOLIDAYS,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000, 10000])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cp-sat-seconds", type=float, default=60.0)
    args = parser.parse_args()
    print(
        f"{'systems':>7} {'seed':>4} {'deps':>6} {'heur s':>7} {'waves':>5} {'bound':>5} "
        f"{'cp-sat s':>8} {'optimum':>8} {'vs best':>7} {'vs bnd':>7} {'auto':>5}"
    )
    to_best: list[float] = []
    to_bound: list[float] = []
    for size in args.sizes:
        for seed in range(args.seeds):
            problem = inventory(size, seed)
            started = time.perf_counter()
            heuristic = plan_waves(problem, method="heuristic")
            elapsed = time.perf_counter() - started
            broken = violations(problem, heuristic)
            assert not broken, broken[:5]
            line = (
                f"{size:>7} {seed:>4} {len(problem.dependencies):>6} {elapsed:>7.2f} "
                f"{heuristic.last_wave:>5} {heuristic.lower_bound:>5}"
            )
            if size <= 300:
                started = time.perf_counter()
                exact = plan_waves(problem, method="cp-sat", time_limit_s=args.cp_sat_seconds)
                exact_s = time.perf_counter() - started
                assert not violations(problem, exact)
                # The heuristic's own bound may beat CP-SAT's: either proves the optimum.
                bound = max(exact.lower_bound, heuristic.lower_bound)
                proven = exact.optimal or bound == min(exact.last_wave, heuristic.last_wave)
                best = min(exact.last_wave, heuristic.last_wave)
                optimum = str(best) if proven else f"{bound}-{best}"
                to_best.append(heuristic.last_wave / best)
                to_bound.append(heuristic.last_wave / bound)
                auto = plan_waves(problem).last_wave  # what the API gets: heuristic, then CP-SAT, in 10 s
                line += f" {exact_s:>8.2f} {optimum:>8} {to_best[-1]:>7.3f} {to_bound[-1]:>7.3f} {auto:>5}"
            print(line, flush=True)
    if to_best:
        print(
            f"heuristic / best plan known (the optimum where proven) on <=300 systems: worst "
            f"{max(to_best):.3f}, mean {sum(to_best) / len(to_best):.3f}; / lower bound (the true ratio "
            f"is at most this): worst {max(to_bound):.3f}, mean {sum(to_bound) / len(to_bound):.3f}"
        )


if __name__ == "__main__":
    main()
