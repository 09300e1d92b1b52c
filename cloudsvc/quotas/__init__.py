"""Hierarchical quotas as the control plane keeps them: limits and rolled-up counters per department and
class, a ledger of every movement, admission at submission, and settlement as requests move on.
The arithmetic itself lives in the top-level ``quotas`` package."""
