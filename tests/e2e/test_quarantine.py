"""Issue 6, poison mail: what cannot be processed goes to quarantine, and the rest goes on.

No monkeypatching: the poison is real.
* a mail larger than ``storage.max_message_bytes``;
* a blob of bytes that is not an e-mail at all, appended over IMAP (no From, Date or Message-ID);
* a mail whose processing raises (a deployment's template override that breaks on it), so
  the transaction rolls back half way.
Each ends in the IMAP ``Quarantine`` folder AND in the ``quarantine`` table with its error;
the good mail around them becomes tickets; ``mailbot quarantine list`` shows them and
``mailbot quarantine retry ID`` processes one again once the cause is fixed. A quarantined
mail that comes back (a crash before the move) goes to Quarantine again, never to Processed.
"""

from __future__ import annotations

import os
from pathlib import Path

from imap_tools import MailBox

from mailbot.settings.config import PROJECT_ROOT
from mailbot.storage.models import Inbound, Quarantine
from tests.e2e.conftest import Deployment
from tests.support.botproc import set_keys
from tests.support.mailstack import fetch_all, mailbox_address, ssl_context

QUESTION = "Selamat pagi,\nKapan jadwal pelatihan SPSE untuk penyedia bulan depan?\nTerima kasih."
LIMIT = 20_000


def append(d: Deployment, raw: bytes) -> None:
    with MailBox(d.stack.host, port=d.stack.imaps_port, ssl_context=ssl_context(d.stack)).login(
            mailbox_address(d.helpdesk), d.stack.password) as box:
        box.append(raw, "INBOX", flag_set=())


def quarantined(d: Deployment) -> list[Quarantine]:
    return d.rows(Quarantine)


def inbound(d: Deployment) -> dict[str, str]:
    return {i.message_id: i.outcome for i in d.rows(Inbound)}


def breaking_templates(tmp: Path) -> Path:
    """A deployment override of ack.j2 that fails (undefined variable) for subjects with RUSAK."""
    folder = tmp / "templates"
    folder.mkdir()
    ack = (PROJECT_ROOT / "templates" / "ack.j2").read_text()
    assert "{% block text %}" in ack
    (folder / "ack.j2").write_text(ack.replace(
        "{% block text %}", '{% block text %}{% if "RUSAK" in ticket.subject %}{{ tidak_ada.sama_sekali }}{% endif %}', 1))
    return folder


def configure(d: Deployment, limit: int, templates: Path | None) -> None:
    d.write_config()
    set_keys(d.config_path, "storage", max_message_bytes=limit)
    if templates is not None:
        set_keys(d.config_path, "paths", templates=str(templates))


def test_poison_mail_is_quarantined_and_the_rest_goes_on(deployment: Deployment, tmp_path: Path) -> None:
    d = deployment
    configure(d, LIMIT, breaking_templates(tmp_path))
    good1 = d.new_mail("Jadwal pelatihan SPSE", QUESTION)
    big = d.new_mail("Dokumen penawaran lengkap", QUESTION + "\n" + ("Lampiran teks panjang. " * 2000))
    breaking = d.new_mail("Akun RUSAK tidak bisa login", QUESTION)
    d.wait_helpdesk_inbox(3)
    blob = b"\x89PNG\r\n\x1a\n" + os.urandom(3000)  # not an e-mail: no header at all
    append(d, blob)
    good2 = d.new_mail("Jadwal pelatihan SPSE (2)", QUESTION)
    d.wait_helpdesk_inbox(5)

    out = d.poll()
    assert "opened=2" in out and "quarantined=3" in out, out
    assert [t.subject for t in d.tickets()] == ["Jadwal pelatihan SPSE", "Jadwal pelatihan SPSE (2)"]
    assert fetch_all(d.stack, d.helpdesk) == []
    assert len(fetch_all(d.stack, d.helpdesk, "Processed")) == 2
    assert len(fetch_all(d.stack, d.helpdesk, "Quarantine")) == 3
    rows = quarantined(d)
    errors = {q.subject: q.error for q in rows}
    assert "exceeds storage.max_message_bytes" in errors["Dokumen penawaran lengkap"]
    assert "processing failed" in errors["Akun RUSAK tidak bisa login"]
    assert "UndefinedError" in errors["Akun RUSAK tidak bisa login"]
    assert "unparseable" in errors[""]
    assert all(q.raw for q in rows) and all(q.resolved_at is None for q in rows)
    seen = inbound(d)
    assert seen[big["Message-ID"].strip("<>")] == "quarantined"
    assert seen[good1["Message-ID"].strip("<>")] == "opened" and seen[good2["Message-ID"].strip("<>")] == "opened"
    # The failed transaction left nothing behind: no ticket, no reply for the breaking mail.
    assert not [m for m in fetch_all(d.stack, d.user) if "RUSAK" in m.subject]

    code, out, _ = d.cli("quarantine", "list")
    assert code == 0 and "3 mail(s) in quarantine" in out
    assert "Dokumen penawaran lengkap" in out and "exceeds storage.max_message_bytes" in out

    # A crash between the quarantine commit and the move: the same mails are in the INBOX again.
    append(d, blob)
    d.send(breaking, to=[d.helpdesk])
    d.wait_helpdesk_inbox(2)
    out = d.poll()
    assert "duplicate=2" in out, out
    assert fetch_all(d.stack, d.helpdesk) == []
    # Never to Processed: the blob (no Message-ID to look for) is moved to Quarantine again; the
    # other one is found there by its Message-ID, so only its inbox copy is removed.
    assert len(fetch_all(d.stack, d.helpdesk, "Quarantine")) == 4
    assert len(fetch_all(d.stack, d.helpdesk, "Processed")) == 2
    assert len(quarantined(d)) == 3

    ids = {q.subject: q.id for q in rows}
    # Still too big: the retry fails and says so.
    code, out, _ = d.cli("quarantine", "retry", str(ids["Dokumen penawaran lengkap"]))
    assert code == 1 and "quarantined" in out
    # The operator raises the limit and fixes the template: both go through now.
    configure(d, 10 * 1024 * 1024, None)
    code, out, err = d.cli("quarantine", "retry", str(ids["Dokumen penawaran lengkap"]))
    assert code == 0 and "opened" in out and "moved its copy from 'Quarantine' to 'Processed'" in out, out + err
    code, out, err = d.cli("quarantine", "retry", str(ids["Akun RUSAK tidak bisa login"]))
    assert code == 0 and "opened" in out, out + err
    code, out, _ = d.cli("quarantine", "retry", str(ids[""]))
    assert code == 1  # a blob stays a blob
    # The server folder follows: only the blob (twice: it came back once) is left in Quarantine.
    left = fetch_all(d.stack, d.helpdesk, "Quarantine")
    assert len(left) == 2 and all(not m.subject for m in left), [m.subject for m in left]
    processed = [m.subject for m in fetch_all(d.stack, d.helpdesk, "Processed")]
    assert "Dokumen penawaran lengkap" in processed and "Akun RUSAK tidak bisa login" in processed
    code, out, _ = d.cli("quarantine", "list")
    assert "1 mail(s) in quarantine" in out
    assert {t.subject for t in d.tickets()} == {"Jadwal pelatihan SPSE", "Jadwal pelatihan SPSE (2)",
                                                "Dokumen penawaran lengkap", "Akun RUSAK tidak bisa login"}
    resolved = {q.subject: q.resolved_at for q in quarantined(d)}
    assert resolved["Dokumen penawaran lengkap"] and resolved["Akun RUSAK tidak bisa login"] and not resolved[""]
    assert len(quarantined(d)) == 3  # a failed retry does not add a second record
    # The retried mails were answered like any other.
    d.poll()
    d.wait_subject(d.user, "RUSAK")
    d.wait_subject(d.user, "Dokumen penawaran lengkap")
