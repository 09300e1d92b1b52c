"""The audit trail: an append-only, hash-chained record of every state-changing call."""
