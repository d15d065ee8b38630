"""The console's routes: sign-in, the queue, a ticket, attachments, search, the dashboard, the SLA report.

GET pages are synchronous functions (Starlette runs them in its threadpool: the database work is
synchronous); the POST handlers read the form asynchronously, check its CSRF token, and do their
database work in the threadpool. A ticket another helpdesk's staff (or LKPP, for a ticket never
escalated) asks for is a 404, the same as one that does not exist.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from mailbot.core import lkpp_decision, lkpp_officer, sla, solved
from mailbot.core.timeline import build_timeline
from mailbot.mail import outbox
from mailbot.mail.compose import build_message, make_message_id
from mailbot.ops import poller, report
from mailbot.service.deadlines import measured_steps
from mailbot.storage import store
from mailbot.web import access, actions, present, queries
from mailbot.web.access import Viewer
from mailbot.web.console import WEB_TEMPLATES, Console, local_page

log = logging.getLogger("mailbot.web")


def routes(console: Console) -> list[BaseRoute]:
    pages = Pages(console)
    acts = actions.Actions(console, pages.ticket_response)
    return [
        # A caller's ticket: /tiket/baru, and /tickets/new kept for scripts (both before /tiket/<id>).
        Route("/tiket/baru", acts.new_ticket_form, methods=["GET"]),
        Route("/tiket/baru", acts.new_ticket, methods=["POST"]),
        Route("/tickets/new", acts.new_ticket_form, methods=["GET"]),
        Route("/tickets/new", acts.new_ticket, methods=["POST"]),
        Route("/tiket/{ticket_id:int}/aksi", acts.ticket_action, methods=["POST"]),
        Route("/", pages.home, methods=["GET"]),
        Route("/masuk", pages.request_link, methods=["POST"]),
        Route("/masuk/{token}", pages.link_page, methods=["GET"]),
        Route("/masuk/{token}", pages.redeem, methods=["POST"]),
        Route("/keluar", pages.sign_out, methods=["POST"]),
        Route("/antrian", pages.queue, methods=["GET"]),
        Route("/tiket/{ticket_id:int}", pages.ticket, methods=["GET"]),
        Route("/tiket/{ref}", pages.ticket_by_number, methods=["GET"]),
        Route("/lampiran/{attachment_id:int}", pages.download, methods=["GET"]),
        Route("/cari", pages.search, methods=["GET"]),
        Route("/dasbor", pages.dashboard, methods=["GET"]),
        Route("/laporan", pages.sla_report, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=str(WEB_TEMPLATES / "static")), name="static"),
    ]


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "") in {"1", "on", "ya"}


class Pages:
    def __init__(self, console: Console) -> None:
        self.c = console

    # ---- sign-in --------------------------------------------------------------------------

    def home(self, request: Request) -> Response:
        if self.c.viewer(request) is not None:
            return RedirectResponse("/antrian", status_code=303)
        response = self.c.render(request, "signin.html", {})
        wanted = request.query_params.get("ke", "")
        if local_page(wanted):  # opened after signing in (the link in a notice, on a phone signed out)
            self.c.set_cookie(response, self.c.next_cookie, wanted, max_age=3600)
        return response

    async def request_link(self, request: Request) -> Response:
        form = await self.c.checked_form(request)
        typed = str(form.get("email", ""))[:400]
        helpdesk = await run_in_threadpool(self._request_link, typed, self.c.client(request))
        # The same page for everybody: it says nothing about whether the address has access.
        task = BackgroundTask(self._flush, helpdesk) if helpdesk else None
        response = self.c.render(request, "link_sent.html", {})
        response.background = task
        return response

    def _request_link(self, typed: str, client: str) -> str | None:
        """Record the request and queue the mail; the helpdesk whose outbox has it, or None."""
        now = self.c.now()
        with self.c.factory.begin() as session:
            outcome, viewer, token = access.request_link(session, self.c.settings, typed, client, now)
            if outcome != "sent" or viewer is None:
                return None
            app = self.c.apps[viewer.helpdesks[0]]
            settings = app.settings
            context = {"helpdesk": {"name": settings.helpdesk.name, "address": settings.helpdesk.address,
                                    "phone": settings.helpdesk.phone},
                       "signin": {"link": self.c.sign_in_link(token), "minutes": 15,
                                  "role": present.VIEWER_ROLES[viewer.role], "address": viewer.address}}
            rendered = app.renderer.render("web_signin", context)
            message_id = make_message_id(settings.helpdesk.address.partition("@")[2])
            msg = build_message(rendered, sender_name=settings.helpdesk.name, sender=settings.helpdesk.address,
                                to=[viewer.address], message_id=message_id, date=now, ticket_number="signin",
                                auto_submitted="auto-generated")
            outbox.queue(session, msg, message_id=message_id, mail_from=settings.helpdesk.address,
                         recipients=[viewer.address], ticket_id=None, now=now, helpdesk=settings.helpdesk_key)
            return settings.helpdesk_key

    def _flush(self, helpdesk: str) -> None:
        """Send the link now rather than at ``mailbot run``'s next flush (one sender at a time either way)."""
        try:
            poller.flush_outbox(self.c.apps[helpdesk])
        except Exception:  # the mail stays queued: mailbot run sends it
            log.exception("web: sending the sign-in mail failed; it stays in the outbox")

    def link_page(self, request: Request) -> Response:
        """The link from the mail shows a button: mail scanners that follow links do not use it up."""
        token = request.path_params["token"]
        with self.c.factory() as session:
            valid = access.link_is_valid(session, token, self.c.now())
        if not valid:
            return self.c.render(request, "link_invalid.html", {}, status=400)
        return self.c.render(request, "link_confirm.html", {"token": token})

    async def redeem(self, request: Request) -> Response:
        await self.c.checked_form(request)
        token = request.path_params["token"]
        client = self.c.client(request)

        def redeem() -> tuple[str, Viewer] | None:
            with self.c.factory.begin() as session:
                return access.redeem_link(session, self.c.settings, token, client, self.c.now())

        result = await run_in_threadpool(redeem)
        if result is None:
            return self.c.render(request, "link_invalid.html", {}, status=400)
        wanted = request.cookies.get(self.c.next_cookie, "")
        response = RedirectResponse(wanted if local_page(wanted) else "/antrian", status_code=303)
        self.c.set_cookie(response, self.c.session_cookie, result[0],
                          max_age=int(self.c.settings.web.session_hours * 3600))
        response.delete_cookie(self.c.pre_cookie, path="/")
        if wanted:  # gone, as __Host- cookies go: Secure when the console is https
            self.c.set_cookie(response, self.c.next_cookie, "", max_age=0)
        return response

    async def sign_out(self, request: Request) -> Response:
        await self.c.checked_form(request)
        token = request.cookies.get(self.c.session_cookie, "")
        client = self.c.client(request)

        def end() -> None:
            with self.c.factory.begin() as session:
                access.end_session(session, token, client, self.c.now())

        if token:
            await run_in_threadpool(end)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(self.c.session_cookie, path="/", secure=self.c.secure, httponly=True,
                               samesite="lax")
        return response

    # ---- the queue and search -------------------------------------------------------------

    def _filters(self, request: Request, viewer: Viewer) -> queries.QueueFilters:
        q = request.query_params
        assignee: queries.Assignee = "mine" if q.get("petugas") == "mine" else (
            "unassigned" if q.get("petugas") == "unassigned" else "")
        helpdesk = q.get("helpdesk", "")
        try:
            page = max(1, min(int(q.get("hal", "1")), 10_000))
        except ValueError:
            page = 1
        return queries.QueueFilters(
            state=q.get("status", "") if q.get("status", "") in queries.STATES else "",
            priority=q.get("prioritas", "")[:20], assignee=assignee,
            waiting=_flag(request, "menunggu"), at_lkpp=_flag(request, "lkpp"), overdue=_flag(request, "terlambat"),
            helpdesk=helpdesk if helpdesk in viewer.helpdesks else "", page=page)

    def _rows(self, rows: Sequence[queries.QueueRow]) -> list[dict[str, Any]]:
        now = self.c.now()
        return [{"t": r, "due": present.local(r.next_due_at, self.c.zone_of(r.helpdesk)),
                 "left": "-" if r.state == "closed" else present.time_left(self.c.calendar_of(r.helpdesk), now,
                                                                           r.next_due_at, r.paused_since, r.state),
                 "late": present.is_late(now, r.next_due_at),
                 "decide": lkpp_decision.due_from_columns(r.state, r.next_due_at, r.lkpp_due_at) is not None,
                 "decide_text": lkpp_decision.STATUS_TEXT} for r in rows]

    def _levels(self) -> list[tuple[str, str]]:
        seen: dict[str, str] = {}
        for app in self.c.apps.values():
            for level in app.table.levels:
                seen.setdefault(level.key, level.label)
        return list(seen.items())

    def queue(self, request: Request) -> Response:
        viewer = self.c.require(request)
        filters = self._filters(request, viewer)
        with self.c.factory() as session:
            page = queries.queue(session, viewer, filters, self.c.now())
        params = {k: v for k, v in request.query_params.items() if k != "hal"}
        return self.c.render(request, "queue.html", {
            "page": page, "rows": self._rows(page.rows), "f": filters, "levels": self._levels(),
            "states": queries.STATES, "params": params, "multi": len(viewer.helpdesks) > 1}, viewer=viewer)

    def search(self, request: Request) -> Response:
        viewer = self.c.require(request)
        text = request.query_params.get("q", "").strip()[:200]
        rows: list[queries.QueueRow] = []
        available = True
        if text:
            try:  # the full-text index (issue 22, part two), built apart
                fts: Any = importlib.import_module("mailbot.storage.search")
            except ImportError:
                fts = None
            if fts is None:
                available = False
            else:
                with self.c.factory() as session:
                    ids = fts.search_tickets(session, text, helpdesk_ids=list(viewer.helpdesks),
                                             escalated_only=viewer.lkpp, limit=50)
                    rows = queries.tickets_by_ids(session, viewer, ids)
        return self.c.render(request, "search.html", {"q": text, "rows": self._rows(rows), "available": available,
                                                      "multi": len(viewer.helpdesks) > 1}, viewer=viewer)

    # ---- a ticket -------------------------------------------------------------------------

    def ticket(self, request: Request) -> Response:
        viewer = self.c.require(request)
        return self.ticket_response(request, viewer, request.path_params["ticket_id"], {}, 200)

    def ticket_by_number(self, request: Request) -> Response:
        """``/tiket/TTS-000123``, as staff type it: the ticket's page when the number is one of the
        viewer's tickets, else the search for it (numbers repeat across helpdesks)."""
        viewer = self.c.require(request)
        ref = request.path_params["ref"].strip()[:40]
        with self.c.factory() as session:
            found = {t.id for key in viewer.helpdesks
                     if (t := store.ticket_by_number(session, ref, key)) is not None and not ref.isdigit()}
        if len(found) == 1:
            return RedirectResponse(f"/tiket/{found.pop()}", status_code=303)
        return RedirectResponse(f"/cari?{urlencode({'q': ref})}", status_code=303)

    def ticket_response(self, request: Request, viewer: Viewer, ticket_id: int, extra: dict[str, Any],
                        status: int) -> Response:
        """The ticket page with its action forms; ``extra``: a refused action's reasons and text."""
        now = self.c.now()
        with self.c.factory() as session:
            page = queries.ticket_page(session, viewer, ticket_id, now)
            if page is None:
                raise HTTPException(404)
            t = page.ticket
            app = self.c.apps.get(t.helpdesk) or next(iter(self.c.apps.values()))
            zone, calendar = self.c.zone_of(t.helpdesk), self.c.calendar_of(t.helpdesk)
            decide_at = lkpp_decision.due_from_columns(t.state, t.next_due_at, t.lkpp_due_at)
            deadlines = [(label, present.local(at, zone), present.time_left(calendar, now, at, None),
                          present.is_late(now, at))
                         for label, at in (("Target penyelesaian", t.due_at), ("Penetapan prioritas", t.priority_due_at),
                                           ("Konfirmasi telepon", t.call_due_at), ("Analisis", t.analysis_due_at),
                                           ("Jawaban LKPP", t.lkpp_due_at),
                                           ("Keputusan helpdesk (tutup atau tanya LKPP)", decide_at),
                                           ("Pengingat ke pengguna", t.remind_at),
                                           ("Ditutup otomatis", t.autoclose_at)) if at is not None]
            timeline = [{"row": row, "at": present.local(row.at, zone),
                         "label": present.EVENT_LABELS.get(row.kind, row.kind),
                         "took": present.duration(row.took, working=row.working) if row.took is not None else "",
                         "standard": (present.duration(row.standard, working=row.working)
                                      if row.standard is not None else "")}
                        for row in build_timeline(page.events,
                                                  measured_steps(app, page.events, t.priority))]
            context = {
                "t": t, "page": page, "zone": zone, "deadlines": deadlines, "timeline": timeline,
                "decide": lkpp_decision.STATUS_TEXT if decide_at is not None else "",
                "reason": present.priority_reason(page.events, t.priority, app.table),
                "priority_label": _label(app.table, t.priority),
                "category_label": app.table.category_label(t.category), "phone": present.phone_links(t.phone),
                "local": lambda at: present.local(at, zone), "size_text": present.size_text,
                "earlier": self._rows(page.earlier), "paused": present.local(t.paused_since, zone),
                "missing_labels": [app.table.item_label(key) for key in t.missing or []],
                # the user said the problem is solved and nothing overtook it: close it (step 9)
                "solved": (solved.standing_report(page.events) if t.state != "closed" else None),
                "merged_into": next((str(e.data["into"]) for e in page.events
                                     if e.kind == "merged" and e.data and e.data.get("into")), ""),
                # who "Kirim ke LKPP" writes to: LKPP's helpdesk and the officer handling the escalation
                "lkpp_to": lkpp_officer.recipients(app.settings.escalation.lkpp_address, lkpp_officer.handling_officer(
                    (e.kind, e.actor) for e in page.events)) if t.state == "escalated" else [],
                **actions.action_context(self.c, viewer, app, t.state, request,
                                         actions.unrelayed(page.messages, page.events)), **extra,
            }
            return self.c.render(request, "ticket.html", context, viewer=viewer, status=status)

    def download(self, request: Request) -> Response:
        viewer = self.c.require(request)
        with self.c.factory() as session:
            found = queries.attachment(session, viewer, request.path_params["attachment_id"])
        if found is None:
            raise HTTPException(404)
        # Always a download, never shown in the page's origin: a mailed HTML or SVG file runs no script here.
        return Response(found.content, media_type=found.content_type or "application/octet-stream", headers={
            "Content-Disposition": present.download_disposition(found.filename),
            "Content-Security-Policy": "sandbox; default-src 'none'", "Cache-Control": "no-store"})

    # ---- the dashboard and the SLA report -------------------------------------------------

    def dashboard(self, request: Request) -> Response:
        viewer = self.c.require(request)
        now = self.c.now()
        helpdesk = request.query_params.get("helpdesk", "")
        helpdesk = helpdesk if helpdesk in viewer.helpdesks else ""
        zone = self.c.zone_of(helpdesk or viewer.helpdesks[0])
        day_start = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
        with self.c.factory() as session:
            board = queries.dashboard(session, viewer, now, day_start, helpdesk)
        return self.c.render(request, "dashboard.html", {
            "b": board, "levels": self._levels(), "states": queries.OPEN_STATES, "calls": self._rows(board.calls),
            "helpdesk": helpdesk, "today": now.astimezone(zone).strftime("%d-%m-%Y"),
            "phone_links": present.phone_links}, viewer=viewer)

    def sla_report(self, request: Request) -> Response:
        viewer = self.c.require(request)
        if viewer.lkpp:  # the report is about a helpdesk's own work
            raise HTTPException(404)
        key = request.query_params.get("helpdesk", "")
        key = key if key in viewer.helpdesks else viewer.helpdesks[0]
        app = self.c.apps[key]
        today = self.c.now().astimezone(app.zone).date()
        first = _date(request.query_params.get("dari")) or today.replace(day=1)
        last = _date(request.query_params.get("sampai")) or (
            (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1))
        if last < first:
            last = first
        figures = report.build(app, first, last)  # chart_svg escapes its labels: Markup below
        return self.c.render(request, "report.html", {
            "r": figures, "first": first, "last": last, "helpdesk": key, "ALL": report.ALL,
            "short": report.short, "chart": Markup(report.chart_svg(figures)), "standard_text": _standard_text},
            viewer=viewer)


def _label(table: Any, level: str) -> str:
    try:
        return str(table.level(level).label)
    except KeyError:
        return level


def _standard_text(standard: Any) -> str:
    if standard is None:
        return "per prioritas"
    return sla.describe(standard.duration, working=standard.working)


#: The years a report period may name: a date from a URL outside them (``sampai=9999-12-31``)
#: is ignored, as an unreadable one is; at the edges of ``date`` the period's arithmetic overflows.
_REPORT_YEARS = range(2000, 2101)


def _date(text: str | None) -> date | None:
    """A report date as the form sends it (``31-12-2026``, the Indonesian order) or as a link may
    carry it (``2026-12-31``); None when unreadable or outside :data:`_REPORT_YEARS`."""
    text = (text or "").strip()
    try:
        if len(text) == 10 and text[2] in "-/." and text[5] == text[2]:
            value: date | None = date(int(text[6:]), int(text[3:5]), int(text[:2]))
        else:
            value = date.fromisoformat(text) if text else None
    except ValueError:
        return None
    return value if value is None or value.year in _REPORT_YEARS else None
