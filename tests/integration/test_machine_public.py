"""Issue 21 item 5 on real machine mail nobody here wrote: tests/data/machine_public.

Bounces of many MTAs and gateways (flufl.bounce's and bounce_email's test data, sisimai's
set-of-emails), ARF and non-ARF complaint reports, auto-replies and mailing-list notices,
each from a public repository (see SOURCES.md there). The real service handles every mail on
one fresh helpdesk: none may open or update a ticket, and no mail may go to an address outside
the helpdesk (staff may be told). Counts by kind and outcome are printed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from mailbot.service.inbound import process_raw
from mailbot.storage.models import Outbox, Ticket
from tests.integration.conftest import NOW, make_app

ROOT = Path(__file__).resolve().parents[1] / "data" / "machine_public"
CORPUS = sorted(p for p in ROOT.rglob("*") if p.is_file() and p.suffix in {".eml", ".txt"})
#: The helpdesk's own domain in the test configuration (helpdesk, staff, LKPP are all there or at lkpp.test).
OWN_DOMAINS = ("@lpse.test", "@lkpp.test")


#: Samples that are not bounces, by file name (see SOURCES.md); every other sample is a bounce (DSN).
ABUSE_REPORTS = {"bounce-auto-respond.eml"}  # bounce_email's name, but an ARF report
AUTO_REPLIES = {"tt_1234210666.eml", "tt_1234211024.eml",  # Outlook (Latvian) and Gmail vacation replies
                "qmail_08.txt"}  # an autoresponder behind qmail ("Auto reply")


def kind(path: Path) -> str:
    """The kind of a sample, from its source's naming (see SOURCES.md)."""
    name = path.name.lower()
    if "arf-" in name or name in ABUSE_REPORTS:
        return "abuse report"
    if name.startswith("rfc3834-") or name in AUTO_REPLIES:
        return "auto-reply"
    if "googlegroups" in name:
        return "list server bounce"
    return "bounce"


def test_public_machine_mail_opens_no_ticket_and_mails_no_outsider(tmp_path: Path) -> None:
    assert len(CORPUS) >= 220
    app = make_app(tmp_path)
    outcomes = {path: process_raw(app, path.read_bytes(), NOW) for path in CORPUS}
    by_kind: Counter[tuple[str, str]] = Counter()
    for path, outcome in outcomes.items():
        by_kind[(path.parent.name + "/" + kind(path), str(outcome.kind.value))] += 1
    print(f"\npublic machine mail: {len(CORPUS)} mails")
    for (group, result), count in sorted(by_kind.items()):
        print(f"  {group:32} {result:12} {count}")
    opened = sorted(str(p.relative_to(ROOT)) for p, o in outcomes.items() if o.kind.value in {"opened", "updated"})
    print(f"opened or updated a ticket: {len(opened)} of {len(CORPUS)}")
    assert opened == []
    with app.factory() as session:
        assert session.scalar(select(func.count(Ticket.id))) == 0
        outside = [r.recipients for r in session.scalars(select(Outbox)).all()
                   if any(not a.lower().endswith(OWN_DOMAINS) for a in r.recipients)]
    print(f"mails to outside addresses: {len(outside)}")
    assert outside == []


def _no_from(headers: str, body: str) -> bytes:
    return (headers.strip().replace("\n", "\r\n") + "\r\nDate: Fri, 27 Nov 2026 09:00:00 +0700\r\n"
            "To: helpdesk@lpse.test\r\n\r\n" + body.replace("\n", "\r\n")).encode()


def test_a_mail_system_report_without_a_usable_from_is_recorded_not_quarantined(tmp_path: Path) -> None:
    """sendmail's "Mail Delivery Subsystem <MAILER-DAEMON>" and DragonFly's "MAILER-DAEMON <>" have no
    address in From; their structure says what they are. A person's mail with no usable From is kept
    for staff in quarantine, as before."""
    app = make_app(tmp_path)
    report = _no_from("""
From: Mail Delivery Subsystem <MAILER-DAEMON>
Subject: Returned mail: see transcript for details
Message-ID: <nf1@mx.pemda.go.id>
Auto-Submitted: auto-generated (failure)
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"
""", """--b
Content-Type: text/plain

   ----- The following addresses had permanent fatal errors -----
<budi@pemda.go.id>
--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.pemda.go.id

Final-Recipient: rfc822; budi@pemda.go.id
Action: failed
Status: 5.1.1
--b--
""")
    person = _no_from("""
From: Rina Kusuma
Subject: Tidak bisa login SPSE
Message-ID: <nf2@cvsejahtera.co.id>""", "Selamat pagi, saya tidak bisa login. User ID: CVSEJAHTERA\n")
    recorded = process_raw(app, report, NOW)
    kept = process_raw(app, person, NOW)
    assert recorded.kind.value == "ignored" and recorded.reason
    assert kept.kind.value == "quarantined"
    with app.factory() as session:
        assert session.scalar(select(func.count(Ticket.id))) == 0
        assert session.scalars(select(Outbox)).all() == []
