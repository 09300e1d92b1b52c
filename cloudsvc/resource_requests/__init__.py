"""Resource requests: submission, approval, lifecycle, auto-approval policies and idempotency."""
