"""The Kubernetes driver (the official client): a department is a namespace with a ResourceQuota, a
LimitRange, network policies and a RoleBinding; servers are KubeVirt VMs or Deployments."""

from provisioners.kubernetes.driver import KubernetesDriver

__all__ = ["KubernetesDriver"]
