"""A real OpenSSH server on a loopback port, for the baseline's runs over ssh: this machine's sshd binary
(openssh-server, from scripts/ensure-baseline-packages.sh) with a configuration, host key and authorised
client key of the test's own, root login by key only. ``rekey()`` restarts it with a new host key, as a
server rebuilt at the same address (or a machine in between) would look."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def keygen(path: Path) -> str:
    """A new ed25519 key pair at ``path``; its public key as ``"<type> <base64>"``."""
    path.unlink(missing_ok=True)
    path.with_suffix(".pub").unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    kind, body = path.with_suffix(".pub").read_text().split()[:2]
    return f"{kind} {body}"


class Sshd:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.client_key = directory / "client_ed25519"
        self.client_public = keygen(self.client_key)
        self.authorized = directory / "authorized_keys"
        self.host_key = directory / "host_ed25519"
        self.host_public = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "sshd.log"

    def authorize(self, allowed: bool) -> None:
        self.authorized.write_text(f"{self.client_public}\n" if allowed else "")

    def start(self) -> None:
        if not self.host_public:
            self.host_public = keygen(self.host_key)
        config = self.directory / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.host_key}",
                    f"PidFile {self.directory / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.authorized}",
                    "PermitRootLogin prohibit-password",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",  # the test's directory, not a home directory
                    "Subsystem sftp internal-sftp",
                    "",
                ]
            )
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # its privilege separation directory
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=out, stderr=out)
        deadline = time.monotonic() + 30
        while True:  # listening once a connection is accepted
            assert self.process.poll() is None, self.log.read_text()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                assert time.monotonic() < deadline, self.log.read_text()
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None

    def rekey(self) -> None:
        """Come back on the same port with another host key."""
        self.stop()
        self.host_public = keygen(self.host_key)
        self.start()
