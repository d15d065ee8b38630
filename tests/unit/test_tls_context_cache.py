"""The client TLS context is made once per CA file (making one parses every trusted certificate):
the same trust for every connection, and a changed CA file is read again."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest

from mailbot.mail.smtp import tls_context

END = b"-----END CERTIFICATE-----\n"


def _certificates(count: int) -> bytes:
    """The first ``count`` certificates of the system's trust store (PEM)."""
    bundle = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt").read_bytes()
    pieces = [p + END for p in bundle.split(END) if b"BEGIN CERTIFICATE" in p]
    assert len(pieces) >= count
    return b"".join(pieces[:count])


def test_one_context_per_ca_file_and_a_new_one_when_the_file_changes(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(_certificates(1))
    first = tls_context(str(ca))
    assert tls_context(str(ca)) is first
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname
    assert len(first.get_ca_certs()) == 1
    # A renewed CA file (another size and time) is trusted from the next connection on.
    ca.write_bytes(_certificates(2))
    os.utime(ca, ns=(1, 1))
    renewed = tls_context(str(ca))
    assert renewed is not first
    assert len(renewed.get_ca_certs()) == 2
    assert tls_context(str(ca)) is renewed


def test_the_systems_store_is_read_once() -> None:
    assert tls_context(None) is tls_context(None)
    assert tls_context(None).verify_mode == ssl.CERT_REQUIRED


def test_a_missing_ca_file_fails_as_before(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        tls_context(str(tmp_path / "missing.pem"))
