"""A Kubernetes API emulator: NOT A KUBE-APISERVER. A small real HTTP server on a loopback port, for the
paths the Kubernetes driver uses, with the API server's semantics where the driver depends on them.

No real kube-apiserver can run on these machines, so the driver is tested through the official client
against this. What it does, as the API server does:

- JSON over the real REST paths (/api/v1/…, /apis/<group>/<version>/…, namespaced and cluster-scoped);
  errors are ``Status`` objects with the API server's reasons, codes and message formats: 404 NotFound,
  409 AlreadyExists on a name clash, 409 Conflict on a stale resourceVersion, 422 Invalid, 403 Forbidden;
- uid, creationTimestamp, resourceVersion (one counter for everything) and generation on every object;
  a PUT with a stale resourceVersion is refused; status is not written through create or update;
- label selectors (=, ==, !=, in, notin, exists, !exists) on lists;
- objects in a namespace need the namespace; deleting a namespace deletes everything in it (and, with
  ``hold_terminating``, leaves it Terminating, refusing new content with 403, until ``finish_terminating``);
- deleting an object deletes what names it as owner (garbage collection, at once);
- ResourceQuota admission for persistentvolumeclaims, requests.storage, count/<resource> and the
  requests/limits of pods: over the quota is a 403 Forbidden with the API server's exact message;
- every object written is checked by ``validate`` (the tests pass the official OpenAPI schemas and the
  KubeVirt CRD schema) and refused with 422 Invalid when it does not conform;
- controllers, standing in for the cluster's: a VirtualMachine gets a VirtualMachineInstance and its
  virt-launcher pod (through quota admission; a refusal is reported in the VM's conditions as KubeVirt
  reports it) and becomes Running with an address (or ErrImagePull for an image in ``broken_images``;
  ``kubevirt.py``), its DataVolume templates DataVolumes whose claims go through quota admission
  (``cdi.py``, a stand-in for CDI); a Deployment gets its
  pods (through quota admission: refused, it shows ReplicaFailure) and reports them ready; a claim binds
  (unless its StorageClass waits for a first consumer); ``hold`` keeps kinds from becoming ready.

With an ``authorizer`` (``rbac.py``) it refuses, as RBAC does, what the identity's rules do not allow.

What it does NOT do is listed in provisioners/kubernetes/README.md ("What the emulator does not cover").
Faults can be injected (``fail``): an HTTP status with a Status body, or a connection reset.
"""

from tests.kubernetes.emulator.api import BY_KIND, RESOURCES, ApiError, Resource, matches
from tests.kubernetes.emulator.cluster import Cluster, Fault
from tests.kubernetes.emulator.rbac import Authorizer, grants
from tests.kubernetes.emulator.server import Emulator

__all__ = [
    "BY_KIND",
    "RESOURCES",
    "ApiError",
    "Authorizer",
    "Cluster",
    "Emulator",
    "Fault",
    "Resource",
    "grants",
    "matches",
]
