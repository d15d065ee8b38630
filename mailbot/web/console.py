"""The console's state and what every page needs: the viewer of a request, cookies, CSRF, rendering.

One ``Console`` per process, built from the deployment's Apps (one per helpdesk, one engine). The
pages (``pages``) are thin: they read the request, call ``access`` or ``queries`` in the
threadpool (database work is synchronous) and render a template of ``templates/web/``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import Engine
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from mailbot.core.worktime import WorkCalendar
from mailbot.service.app import App
from mailbot.service.deadlines import calendar_for
from mailbot.settings.config import Settings
from mailbot.settings.resources import builtin_templates
from mailbot.storage import store
from mailbot.web import access, present
from mailbot.web.access import Viewer

#: The console's templates and its stylesheet (``static/``), shipped with the mail templates.
WEB_TEMPLATES: Path = builtin_templates() / "web"



_LOCAL_PAGE = re.compile(r"/(?:tiket|antrian|cari|dasbor|laporan)[\w/?=&%.+-]{0,200}")


def local_page(path: str) -> bool:
    """A console page to return to after signing in: only this console's own pages, never an
    address elsewhere ("//evil.example", "https://...")."""
    return bool(_LOCAL_PAGE.fullmatch(path))

class Console:
    """The deployment's helpdesks, the database, the templates and the keys of one ``mailbot web``."""

    def __init__(self, apps: list[App], *, clock: Callable[[], datetime] | None = None) -> None:
        if not apps:
            raise ValueError("the console needs at least one helpdesk")
        self.apps: dict[str, App] = {a.settings.helpdesk_key: a for a in apps}
        self.settings: Settings = apps[0].settings  # the deployment-wide sections are the same in each
        self.factory = apps[0].factory
        self.calendars: dict[str, WorkCalendar] = {k: calendar_for(a.settings) for k, a in self.apps.items()}
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        engine: Engine = self.factory.kw["bind"]
        # Kept in the database, so every worker of ``mailbot web`` accepts every other's form tokens.
        self.csrf_key = store.signing_key(engine, "web/csrf", self.clock())
        self.base_url = self.settings.web.base_url
        self.secure = self.base_url.startswith("https://")
        # __Host- cookies are refused by browsers unless Secure, for path / and without a domain.
        prefix = "__Host-" if self.secure else ""
        self.session_cookie = f"{prefix}mb_session"
        self.pre_cookie = f"{prefix}mb_pre"
        self.next_cookie = f"{prefix}mb_next"  # the page a signed-out visitor wanted (a notice's link)
        self.env = Environment(loader=FileSystemLoader(str(WEB_TEMPLATES)), undefined=StrictUndefined,
                               autoescape=select_autoescape(default=True, default_for_string=True),
                               trim_blocks=True, lstrip_blocks=True)
        self.env.globals.update(state_label=present.state_label, state_short=present.STATE_SHORT,
                                role_labels=present.ROLE_LABELS, viewer_roles=present.VIEWER_ROLES,
                                helpdesk_name=self.helpdesk_name)

    # ---- who is asking --------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock()

    @staticmethod
    def client(request: Request) -> str:
        """The client's IP address (uvicorn takes it from X-Forwarded-For of a trusted proxy only)."""
        return request.client.host if request.client else ""

    def viewer(self, request: Request) -> Viewer | None:
        token = request.cookies.get(self.session_cookie, "")
        if not token:
            return None
        with self.factory() as session:
            return access.session_viewer(session, self.settings, token, self.now())

    def require(self, request: Request) -> Viewer:
        """The signed-in viewer; anyone else is sent to the sign-in page."""
        viewer = self.viewer(request)
        if viewer is None:
            wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise HTTPException(303, headers={"Location": "/?" + urlencode({"ke": wanted})
                                              if request.method == "GET" and local_page(wanted) else "/"})
        return viewer

    def zone_of(self, helpdesk: str) -> Any:
        app = self.apps.get(helpdesk)
        return (app or next(iter(self.apps.values()))).zone

    def calendar_of(self, helpdesk: str) -> WorkCalendar:
        return self.calendars.get(helpdesk) or next(iter(self.calendars.values()))

    def helpdesk_name(self, key: str) -> str:
        app = self.apps.get(key)
        return app.settings.helpdesk.name if app else key

    # ---- CSRF -----------------------------------------------------------------------------

    def csrf_basis(self, request: Request) -> str:
        """What a browser's form token is bound to: its session, before sign-in its pre-session cookie."""
        return request.cookies.get(self.session_cookie) or request.cookies.get(self.pre_cookie) or ""

    async def checked_form(self, request: Request, *, max_files: int = 0, max_fields: int = 20) -> FormData:
        """The POSTed form, or 403 when its CSRF token is missing or not this browser's."""
        form = await request.form(max_files=max_files, max_fields=max_fields)
        given = form.get("csrf")
        if not isinstance(given, str) or not access.csrf_ok(self.csrf_key, self.csrf_basis(request), given):
            raise HTTPException(403, "csrf")
        return form

    # ---- responses ------------------------------------------------------------------------

    def render(self, request: Request, template: str, context: Mapping[str, Any], *, status: int = 200,
               viewer: Viewer | None = None) -> Response:
        """A page; a browser without any cookie gets a pre-session one, so its forms have a token."""
        basis = self.csrf_basis(request)
        fresh = ""
        if not basis:
            basis = fresh = secrets.token_urlsafe(24)
        page = self.env.get_template(template).render(
            viewer=viewer, csrf=access.csrf_token(self.csrf_key, basis), path=request.url.path, **context)
        response = HTMLResponse(page, status_code=status)
        if fresh:
            self.set_cookie(response, self.pre_cookie, fresh, max_age=None)
        # Ticket data, and the sign-in link in a confirmation page's form, stay out of every cache.
        response.headers["Cache-Control"] = "no-store"
        return response

    def set_cookie(self, response: Response, name: str, value: str, *, max_age: int | None) -> None:
        response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="lax",
                            secure=self.secure)

    def sign_in_link(self, token: str) -> str:
        return f"{self.base_url}/masuk/{token}"
