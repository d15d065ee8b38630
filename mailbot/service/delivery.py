"""Delivery failures: reports that come back by mail (believed only with proof, see
``core.bounces``) and refusals the outbox records; marks and staff notices follow from them.
"""


from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.core import bounces
from mailbot.core.domain import EventKind, InboundMail, OutcomeKind, SenderRole
from mailbot.core.loops import Bounce, parse_bounce
from mailbot.core.workflow import (
    Record,
    SendMail,
)
from mailbot.mail import outbox
from mailbot.service import marks
from mailbot.service.app import App
from mailbot.service.context import local_time
from mailbot.service.effects import queue_mail, record_event, store_message
from mailbot.service.outcome import Outcome
from mailbot.storage import store
from mailbot.storage.models import Message, Outbox, Ticket

log = logging.getLogger(__name__)



def handle_bounce(app: App, session: Session, mail: InboundMail, now: datetime) -> Outcome:
    """A delivery report: believed only when it is about a mail we sent (see ``bounces``).

    A believed report marks (for this helpdesk) only the recipients of that mail, and staff are
    told once per new mark. Any other report is recorded and changes nothing.
    """
    report = parse_bounce(mail)
    key = app.settings.helpdesk_key
    sent, proof = _reported_mail(app, session, mail, report)
    verdict = bounces.judge(report, proof=proof, sent_to=sent.recipients if sent else (), now=now)
    ticket_id = sent.ticket_id if sent is not None else None
    if ticket_id is None and not verdict.believed:
        # Recorded on the ticket it seems to be about, for staff to see; it marks nothing.
        ticket_id = store.ticket_for_message_ids(session, mail.thread_ids, key)
    ticket = store.lock_ticket(session, ticket_id) if ticket_id is not None else None
    if ticket is not None and ticket.helpdesk != key:
        ticket = None
    new_marks = [m for m in verdict.marks if marks.mark_address(session, key, m, ticket.id if ticket else None, now)]
    summary = ", ".join(f"{r.address} ({r.status or '?'})" for r in report.recipients) or "unknown recipient"
    what = "bounce" if verdict.believed else "unproven delivery report"
    detail = f"{what}: {summary}; {verdict.how}"
    if verdict.ignored:
        detail += "; not marked: " + "; ".join(verdict.ignored)
    if ticket is None:
        return Outcome(OutcomeKind.IGNORED, reason=f"{detail} (no ticket)"[:4000])
    store_message(session, ticket, mail, SenderRole.USER, channel="user", now=now, auto=True)
    record_event(session, ticket, Record(EventKind.BOUNCE if verdict.believed else EventKind.BOUNCE_UNPROVEN, detail[:4000], data={
        "recipients": [r.address for r in report.recipients], "marked": [m.address for m in verdict.marks],
        "proof": verdict.how if verdict.believed else ""}), now, mail.from_addr)
    staff = set(app.settings.staff.addresses)
    # Staff hear of each new mark once, and of every refused message (it did not arrive); never of a
    # bounced staff notification (that would answer a bounce with more mail to the same place).
    told = [m for m in new_marks if m.address not in staff]
    refused = [r for r in verdict.refused if r.address not in staff]
    if told or refused:
        queue_mail(app, session, ticket, mail, SendMail("staff", "staff_bounce", {
            "bounced": ", ".join([f"{m.address} ({m.reason[:200]})" for m in told]
                                 + [f"{r.address} ({r.status} {r.diagnostic[:200]})".strip() for r in refused]),
            "marks": [{"address": m.address, "permanent": m.permanent, "refused": False,
                       "until": local_time(app, m.expires_at) if m.expires_at else ""} for m in told]
            + [{"address": r.address, "permanent": False, "refused": True, "until": ""} for r in refused]}),
            now, None, None)
    return Outcome(OutcomeKind.UPDATED, ticket.number, detail[:4000], ticket.id)


@dataclass(frozen=True)
class _SentMail:
    recipients: tuple[str, ...]
    ticket_id: int | None


def _reported_mail(app: App, session: Session, mail: InboundMail,
                   report: Bounce) -> tuple[_SentMail | None, str | None]:
    """The mail of ours a delivery report is about, and the proof of it (or None, None)."""
    key = app.settings.helpdesk_key
    token = bounces.verp_token((*mail.to, *mail.cc, *mail.delivered_to), app.settings.helpdesk.address, app.secret)
    if token is not None:
        row = session.execute(select(Outbox.recipients, Outbox.ticket_id).where(
            Outbox.verp == token, Outbox.helpdesk == key)).first()
        if row is not None:
            return _SentMail(tuple(row[0]), row[1]), "returned to the signed envelope sender of our mail"
    if report.original_message_id:
        row = session.execute(select(Outbox.recipients, Outbox.ticket_id).where(
            Outbox.message_id == report.original_message_id, Outbox.helpdesk == key)).first()
        if row is not None:
            return _SentMail(tuple(row[0]), row[1]), f"quotes our Message-ID {report.original_message_id}"
    return None, None


def delivery_failure_notifier(app: App) -> outbox.OnFailed:
    """The outbox's ``on_failed`` hook: record a failed mail on its ticket and tell staff.

    Only mail in a ticket's user or LKPP conversation is reported; a failed mail to staff
    (a notification, or one of these notices) is only recorded, so a broken staff mailbox
    cannot make the bot mail staff about mailing staff. A permanent refusal of the address (not
    of the message: 552 too large, content) also marks it undeliverable, as a bounce does.
    """

    def on_failed(session: Session, row: Outbox, now: datetime, permanent: bool) -> None:
        ticket = session.get(Ticket, row.ticket_id) if row.ticket_id is not None else None
        if ticket is None:
            return
        failed = session.scalar(select(Message).where(Message.message_id == row.message_id))
        recipients = ", ".join(row.recipients)
        how = "refused permanently" if permanent else f"not accepted after {row.attempts} attempts"
        record_event(session, ticket, Record(EventKind.DELIVERY_FAILED, f"mail to {recipients} {how}: {row.last_error[:500]}",
                                       data={"outbox_id": row.id, "message_id": row.message_id,
                                             "permanent": permanent}), now, "mailbot")
        if failed is None or failed.channel == "staff":
            return  # never notify about a failed notification
        if permanent:  # an address-level refusal marks the address; a refused message does not
            for mark in bounces.refusal_marks(row.last_error, row.recipients, now):
                marks.mark_address(session, app.settings.helpdesk_key, mark, ticket.id, now)
        # No inbound mail is behind this notice: "the mail in hand" is the bot's own.
        me = InboundMail(message_id=row.message_id, from_addr=app.settings.helpdesk.address,
                         from_name=app.settings.helpdesk.name, to=(), cc=(), subject="", date=None, in_reply_to=(),
                         references=(), text="", html=None, new_text="")
        delivery = {
            "outbox_id": row.id, "recipients": recipients, "subject": failed.subject, "error": row.last_error[:500],
            "attempts": row.attempts, "permanent": permanent, "template": failed.template or "",
            "sent_local": local_time(app, row.created_at),
        }
        queue_mail(app, session, ticket, me, SendMail("staff", "staff_delivery_failed", {"delivery": delivery}),
                    now, None, None)
        log.info("staff told that mail %s to %s could not be delivered", row.message_id, recipients)

    return on_failed


# ---- read side for the CLI ----------------------------------------------------------------


