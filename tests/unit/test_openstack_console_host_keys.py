"""Reading a new server's SSH host keys out of its console log, where cloud-init prints them between
BEGIN and END lines (the OpenStack driver's ``host_keys``). The test cloud's fake hypervisor writes no such
log, so the parsing is checked here on console text of the kinds a real boot leaves."""

from __future__ import annotations

from provisioners.openstack.servers import host_keys_from_console

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfTheNewServer0000000000000000"
ECDSA = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHostKey="
RSA = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQDHostKeyOfTheNewServer/+RsaPart=="


def block(*keys: str, prefix: str = "") -> str:
    lines = ["-----BEGIN SSH HOST KEY KEYS-----", *(f"{k} root@cs-r-0" for k in keys)]
    return "\n".join(f"{prefix}{line}" for line in [*lines, "-----END SSH HOST KEY KEYS-----"])


def test_the_keys_between_the_markers_are_read_without_their_comment() -> None:
    console = "\n".join(
        [
            "[    1.234] Booting kernel",
            "ci-info: ++++ Authorized keys from /root/.ssh/authorized_keys for user root ++++",
            "ci-info: | ssh-ed25519 | 2b:7e:…  |  -  | someone@example |",  # a fingerprint table, not a key
            block(ECDSA, ED25519, RSA),
            "cs-r-0 login:",
        ]
    )
    assert host_keys_from_console(console) == tuple(sorted([ED25519, ECDSA, RSA]))


def test_lines_prefixed_by_the_console_are_read_too() -> None:
    console = block(ED25519, prefix="[   12.5] cloud-init[412]: ")
    assert host_keys_from_console(console) == (ED25519,)


def test_nothing_before_the_block_is_complete() -> None:
    assert host_keys_from_console("") == ()
    assert host_keys_from_console("FAKE CONSOLE OUTPUT\nANOTHER\nLAST LINE") == ()  # Nova's fake driver
    unfinished = "-----BEGIN SSH HOST KEY KEYS-----\n" + ED25519 + "\n"
    assert host_keys_from_console(unfinished) == ()
    assert host_keys_from_console(block()) == ()


def test_after_a_rebuild_only_the_last_block_counts() -> None:
    console = block(RSA) + "\n[ reboot ]\n" + block(ED25519)
    assert host_keys_from_console(console) == (ED25519,)
    # a later block cut off by the console's end does not bring the earlier one's keys back or mix them
    assert host_keys_from_console(console + "\n-----BEGIN SSH HOST KEY KEYS-----\n" + RSA) == (ED25519,)
