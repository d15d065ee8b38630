"""SOP steps 5-6: a user's reply to a ticket waiting for data, judged on what arrived.

Pure. Public API: :func:`data_reply` (what ``workflow.decide`` does with such a reply).

When nothing is missing any more the ticket moves to analysis (step 7) and the user gets one
short mail (``data_complete``) saying the data arrived and when the analysis is due: the
acknowledgment promised "langsung kami analisis", and without it the user hears nothing until
staff answer. While items are still missing the clocks keep running (no ``data_received``), the
reminder and the auto-close stay due, and the user gets one short mail naming what is still
missing (``still_missing``). Both are automatic mails: the service holds them back for a marked
address or past the hourly cap, and an auto-reply never reaches here (``core.triage`` records it).
"""

from __future__ import annotations

from collections.abc import Sequence

from mailbot.core.decisions import Decision, Effect, Record, SendMail, SetMissing
from mailbot.core.domain import EventKind, TicketState

E = EventKind


def data_reply(missing: Sequence[str], found: Sequence[str], assignee: str | None, actor: str) -> Decision:
    """``missing``: the ticket's missing items; ``found``: those this reply brings (the service's detection)."""
    arrived = [key for key in missing if key in found]
    still = tuple(key for key in missing if key not in found)
    staff = SendMail("assignee" if assignee else "staff", "staff_user_reply")
    data: dict[str, object] = {"arrived": arrived, "still_missing": list(still)}
    if not still:
        detail = "the user answered the data request" if not missing else "data received: " + ", ".join(arrived)
        return Decision(TicketState.ANALYSIS, (
            Record(E.USER_REPLIED, f"reply from {actor}", data=data),
            Record(E.DATA_RECEIVED, detail, 6, data), SetMissing(()),
            Record(E.ANALYSIS_STARTED, "data received", 7),
            SendMail("user", "data_complete", {"arrived": arrived}), staff,
        ))
    got = f"; arrived: {', '.join(arrived)}" if arrived else "; no requested data in it"
    effects: list[Effect] = [
        Record(E.USER_REPLIED, f"reply from {actor}{got}; still missing: {', '.join(still)}", data=data)]
    if arrived:
        effects.append(SetMissing(still))
    effects += [SendMail("user", "still_missing", {"arrived": arrived, "still_missing": list(still)}), staff]
    return Decision(TicketState.WAITING_USER, tuple(effects))
