"""The planner's vocabulary, re-exported for the control plane's schemas."""

from migrations_plan.model import Coupling, Strategy

__all__ = ["Coupling", "Strategy"]
