"""Migration of legacy systems: inventory, assessment, wave planning (issue 6). Pure domain code.

- ``model``: legacy systems, dependencies, zones, periods;
- ``assessment``: suggested 7R strategy, target zone, dependency cycles and unknown codes for import reports;
- ``planner``: ``plan_waves`` (CP-SAT or heuristic) and ``violations``, the independent plan checker.
"""
