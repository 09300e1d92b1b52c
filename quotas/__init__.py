"""Quota classes and quota arithmetic. Knows nothing of HTTP or of the control plane's persistence."""
