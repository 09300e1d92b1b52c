"""The provisioning engine: a reconciling worker that drives approved and decommissioning requests through
a zone's driver, step by step, resuming from what the backend actually has after any crash."""
