"""The SSH host keys the baseline trusts, and how ansible is held to them.

Each server's keys are pinned the first time the baseline meets it: as the backend reports them out of band
(``Driver.host_keys``: what cloud-init wrote to the console log, say), or else, where the zone allows it
(``baseline.pin_first_contact``, the default), as the server shows them to ``ssh-keyscan`` at that first
contact (trust on first use: a new server on the zone's own network, seconds old). The pins are stored on
the request's resources, so every later run (a retry, another worker after a crash) accepts those keys and
no others. A run writes them into a known_hosts file of its own and points ssh at it with strict checking;
the worker's own known_hosts and the system's are never read or written.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

KEY_TYPES = "ed25519,ecdsa,rsa"
SCAN_TIMEOUT_SECONDS = 5
_MISMATCH = ("REMOTE HOST IDENTIFICATION HAS CHANGED", "Host key verification failed")


def scan(host: str, port: int) -> tuple[str, ...]:
    """The host keys the server at ``host:port`` shows now, as ``"<type> <base64>"``; () if none answered."""
    try:
        # ssh-keyscan from PATH (S607), as ansible finds ssh; the host (from the backend or the zone's
        # settings) is one argument, never through a shell (S603)
        command = ["ssh-keyscan", "-T", str(SCAN_TIMEOUT_SECONDS), "-p", str(port), "-t", KEY_TYPES, host]
        found = subprocess.run(  # noqa: S603
            command,
            capture_output=True,
            text=True,
            timeout=SCAN_TIMEOUT_SECONDS * 6,  # one connection per key type, each within -T
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ()
    keys = set()
    for line in found.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and not line.startswith("#"):  # "<host> <type> <base64>"
            keys.add(f"{parts[1]} {parts[2]}")
    return tuple(sorted(keys))


def write_known_hosts(path: Path, pins: Mapping[str, Sequence[str]]) -> None:
    """A known_hosts file with each alias's pinned keys (ssh looks them up by ``HostKeyAlias``, so neither
    the address nor the port a server is reached at matters)."""
    path.write_text("".join(f"{alias} {key}\n" for alias, keys in sorted(pins.items()) for key in keys))
    path.chmod(0o600)


def ssh_args(known_hosts: Path, alias: str) -> str:
    """The ssh options that hold a connection to the pinned keys (``ansible_ssh_common_args``)."""
    return " ".join(
        [
            f"-o UserKnownHostsFile={known_hosts}",
            "-o GlobalKnownHostsFile=/dev/null",
            "-o StrictHostKeyChecking=yes",
            "-o UpdateHostKeys=no",
            f"-o HostKeyAlias={alias}",
        ]
    )


def mismatch(message: str) -> bool:
    """Whether ssh refused the connection because the server's key is not the pinned one."""
    return any(words in message for words in _MISMATCH)
