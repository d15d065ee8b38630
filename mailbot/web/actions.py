"""The console's forms that act: the actions on a ticket page and the tickets opened for callers.

Thin, like ``pages``: a POST's CSRF token is checked (403 without it), the viewer's right to the
ticket (404 as for a ticket that is not theirs), and the form is handed to
``service.console_actions``, which decides through ``workflow.decide`` exactly as a staff mail
with the same keyword would. Success redirects to the ticket (a reload does not send the form
again); a refusal shows the ticket page again with the reasons and the text as typed; a form sent
twice (its idempotency token already stored) acts once. Mail queued by an action is sent by
``mailbot run``; the console also flushes its helpdesk's outbox after the response, as it does
for sign-in mails.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mailbot.core.domain import Attachment, EventKind
from mailbot.ops import poller
from mailbot.service.app import App
from mailbot.service.console_actions import (
    CALLER_CHANNELS,
    ActionForm,
    ActionResult,
    CallerForm,
    act,
    actions_in,
    canned_text,
    open_for_caller,
)
from mailbot.storage.models import TicketEvent
from mailbot.web import queries
from mailbot.web.access import Viewer
from mailbot.web.console import Console
from mailbot.web.queries import MessageView

log = logging.getLogger("mailbot.web")

#: At most this many files with one answer (each within ``storage.max_attachment_bytes``).
MAX_FILES = 5

#: What the page says after an action (``?selesai=<action>``).
NOTICES = {
    "reply": "Jawaban dikirim ke pengguna.", "close": "Tiket ditutup; jawaban dikirim ke pengguna.",
    "escalate": "Tiket dieskalasi ke LKPP.", "request_data": "Permintaan data dikirim ke pengguna.",
    "merge": "Tiket digabung; pengguna diberi tahu nomor tiket yang dilanjutkan.", "take": "Tiket diambil.", "note": "Catatan internal disimpan.", "priority": "Prioritas diubah.",
    "called": "Konfirmasi telepon dicatat.", "reopen": "Tiket dibuka kembali.",
    "withdraw": "Eskalasi ditarik dari LKPP; LKPP diberi tahu dan tiket kembali dalam analisis.",
    "relay": "E-mail atas nama LKPP diteruskan ke pengguna.",
    "to_lkpp": "Pesan dikirim ke Helpdesk LKPP; pengguna tidak menerima e-mail.",
    "ganda": "Formulir ini sudah dikirim sebelumnya; tidak dijalankan dua kali.",
    "baru": "Tiket dibuka untuk pelapor; tanda terima dikirim ke e-mailnya.",
}

CHANNEL_LABELS = {"telepon": "Telepon", "whatsapp": "WhatsApp", "datang_langsung": "Datang langsung",
                  "email_diteruskan": "E-mail diteruskan"}
assert set(CHANNEL_LABELS) == set(CALLER_CHANNELS)
_CALLER_FIELDS = ("requester", "subject", "body", "channel", "phone", "name", "helpdesk")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def role_on(console: Console, viewer: Viewer, helpdesk: str) -> str:
    """What ``viewer`` may do on a ticket of ``helpdesk``: "staff", "lkpp" or "" (read only).

    Acting takes a staff address of that helpdesk (as commands by mail do); a coordinator who is
    not also staff reads only.
    """
    if viewer.lkpp:
        return "lkpp"
    app = console.apps.get(helpdesk)
    return "staff" if app is not None and app.settings.is_staff(viewer.address) else ""


def unrelayed(messages: Sequence[MessageView], events: Sequence[TicketEvent]) -> MessageView | None:
    """The mail ``#teruskan`` would relay: the latest in LKPP's name without proof not relayed yet
    (as ``service.inbound.unrelayed_lkpp`` finds it), or None."""
    relayed = {e.data.get("message") for e in events if e.kind == EventKind.LKPP_RELAYED.value and e.data}
    return max((m for m in messages if m.channel == "unverified" and m.id not in relayed),
               key=lambda m: m.id, default=None)


def action_context(console: Console, viewer: Viewer, app: App, state: str, request: Request,
                   relayable: MessageView | None = None) -> dict[str, Any]:
    """What the ticket page's forms need (fresh idempotency tokens for each form).

    ``relayable``: the mail "Teruskan ke pengguna" would relay (see :func:`unrelayed`); without one
    the button is not offered (the workflow would refuse it).
    """
    role = role_on(console, viewer, app.settings.helpdesk_key)
    done = request.query_params.get("selesai", "")
    can = actions_in(state, role == "lkpp") if role else ()
    return {
        "acts": role, "notice": NOTICES.get(done, ""), "errors": (), "typed": "", "typed_for": "", "confirm": False,
        "tokens": {name: new_token() for name in ("main", "take", "priority", "called", "merge", "lkpp", "withdraw",
                                                  "relay", "to_lkpp")},
        "answers": list(app.answers.answers), "items": [i.label for i in app.table.items if not i.any_of],
        "levels": [(lv.key, lv.label) for lv in app.table.levels],
        "colleagues": [a for a in app.settings.staff.addresses if a.lower() != viewer.address],
        "state": state, "can": tuple(a for a in can if a != "relay" or relayable is not None), "relayable": relayable,
    }


class Actions:
    def __init__(self, console: Console, render_ticket: Any) -> None:
        self.c = console
        # pages.Pages.ticket_response(request, viewer, ticket_id, extra, status): the page with our context.
        self.render_ticket = render_ticket

    def _flush(self, helpdesk: str) -> None:
        try:
            poller.flush_outbox(self.c.apps[helpdesk])
        except Exception:  # the mail stays queued: mailbot run sends it
            log.exception("web: sending after a console action failed; the mail stays in the outbox")

    async def _files(self, form: FormData, app: App) -> tuple[list[Attachment], list[str]]:
        limit = app.settings.storage.max_attachment_bytes
        files: list[Attachment] = []
        errors: list[str] = []
        uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
        if len(uploads) > MAX_FILES:
            errors.append(f"paling banyak {MAX_FILES} berkas per jawaban")
        for upload in uploads[:MAX_FILES]:
            data = await upload.read(limit + 1)
            name = PurePosixPath((upload.filename or "berkas").replace("\\", "/")).name[:200] or "berkas"
            if len(data) > limit:
                errors.append(f"berkas {name} lebih besar dari batas {limit // 1024} KB")
                continue
            files.append(Attachment(name, upload.content_type or "application/octet-stream", len(data), data))
        return files, errors

    async def ticket_action(self, request: Request) -> Response:
        viewer = self.c.require(request)
        form = await self.c.checked_form(request, max_files=MAX_FILES + 1, max_fields=80)
        ticket_id = request.path_params["ticket_id"]

        def helpdesk_of() -> str | None:
            with self.c.factory() as session:
                return queries.ticket_helpdesk(session, viewer, ticket_id)

        helpdesk = await run_in_threadpool(helpdesk_of)
        if helpdesk is None or helpdesk not in self.c.apps:
            raise HTTPException(404)
        role = role_on(self.c, viewer, helpdesk)
        if not role:
            raise HTTPException(403)
        app = self.c.apps[helpdesk]
        action = str(form.get("action", ""))
        text = str(form.get("text", ""))[:20000]
        files, file_errors = await self._files(form, app)
        items = [str(x) for x in form.getlist("items") if str(x).strip()]
        other = str(form.get("items_other", "")).strip()
        if other:
            items.append(other)
        fields = ActionForm(action=action, text=text, items=tuple(items), level=str(form.get("level", "")),
                            reason=str(form.get("reason", "")), assignee=str(form.get("assignee", "")),
                            answer=str(form.get("answer", "")), into=str(form.get("into", ""))[:40], files=tuple(files),
                            confirmed=str(form.get("confirm", "")) == "1")
        if action == "insert":
            # "Sisipkan": the canned answer goes into the text box to be edited; nothing is sent.
            canned = await run_in_threadpool(canned_text, app, ticket_id, viewer.address, fields.answer, self.c.now())
            extra: dict[str, Any] = {"typed": "\n\n".join(x for x in (text.strip(), canned or "") if x)}
            if canned is None:
                extra["errors"] = ("pilih jawaban baku dulu",)
            return await run_in_threadpool(self.render_ticket, request, viewer, ticket_id, extra, 200)
        if file_errors:
            result = ActionResult("refused", tuple(file_errors), ticket_id)
        else:
            result = await run_in_threadpool(act, app, ticket_id, viewer.address, fields, str(form.get("token", "")),
                                             self.c.now(), lkpp=role == "lkpp")
        if result.status == "missing":
            raise HTTPException(404)
        if result.status == "refused":
            return await run_in_threadpool(self.render_ticket, request, viewer, ticket_id,
                                           {"errors": result.errors, "typed": text, "confirm": result.confirm,
                                            # text meant for LKPP goes back into LKPP's box, never the user's
                                            "typed_for": "to_lkpp" if action == "to_lkpp" else ""}, 409)
        response = RedirectResponse(f"/tiket/{ticket_id}?selesai={'ganda' if result.status == 'duplicate' else action}"
                                    "#aksi", status_code=303)
        if result.status == "done":
            log.info("web: %s on ticket %s by %s", action, result.number or ticket_id, viewer.address)
            response.background = BackgroundTask(self._flush, helpdesk)
        return response

    # ---- tickets for callers -------------------------------------------------------------

    def _staff_app(self, request: Request) -> tuple[Viewer, list[App]]:
        viewer = self.c.require(request)
        apps = [self.c.apps[k] for k in viewer.helpdesks if k in self.c.apps and role_on(self.c, viewer, k) == "staff"]
        if not apps:
            raise HTTPException(403)
        return viewer, apps

    def _new_page(self, request: Request, viewer: Viewer, apps: list[App], values: dict[str, str],
                  errors: list[str] | tuple[str, ...] = (), status: int = 200) -> Response:
        return self.c.render(request, "new_ticket.html", {
            "helpdesks": [(a.settings.helpdesk_key, a.settings.helpdesk.name) for a in apps],
            "channels": CHANNEL_LABELS, "v": {k: values.get(k, "") for k in _CALLER_FIELDS}, "errors": errors, "token": new_token()},
            status=status, viewer=viewer)

    def new_ticket_form(self, request: Request) -> Response:
        viewer, apps = self._staff_app(request)
        return self._new_page(request, viewer, apps, {})

    async def new_ticket(self, request: Request) -> Response:
        viewer, apps = await run_in_threadpool(self._staff_app, request)
        form = await self.c.checked_form(request)
        values = {k: str(form.get(k, ""))[:20000 if k == "body" else 500]
                  for k in _CALLER_FIELDS}
        app = next((a for a in apps if a.settings.helpdesk_key == values["helpdesk"]), apps[0])
        fields = CallerForm(requester=values["requester"], subject=values["subject"], body=values["body"],
                            channel=values["channel"].strip().lower().replace(" ", "_").replace("-", ""),
                            phone=values["phone"], name=values["name"])
        result = await run_in_threadpool(open_for_caller, app, viewer.address, fields, str(form.get("token", "")),
                                         self.c.now())
        if result.status == "refused":
            return await run_in_threadpool(self._new_page, request, viewer, apps, values, result.errors, 409)
        if result.status == "duplicate" or result.ticket_id is None:
            return RedirectResponse("/antrian", status_code=303)
        log.info("web: ticket %s opened for a caller by %s", result.number, viewer.address)
        response = RedirectResponse(f"/tiket/{result.ticket_id}?selesai=baru", status_code=303)
        response.background = BackgroundTask(self._flush, app.settings.helpdesk_key)
        return response
