"""cloudsvc: the control plane of a provincial e-government cloud (政务云)."""

__version__ = "0.1.0"
