"""Backend drivers (OpenStack, Kubernetes, simulator) behind one small interface. Built by issue 4."""
