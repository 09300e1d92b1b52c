"""Monitoring: what Prometheus scrapes at ``GET /metrics``, and the figures the worker and the audit
verifier leave in the database for it (backend errors, backend usage, worker passes, verification results).

Everything exported is read from the database at scrape time, never kept in a process's memory, so any
number of API processes answer a scrape identically (no prometheus-client multiprocess mode needed)."""
