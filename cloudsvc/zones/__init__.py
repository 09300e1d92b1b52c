"""Zones: the clouds (OpenStack, Kubernetes or the simulator) that requests land in."""
