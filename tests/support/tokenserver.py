"""A small OAuth2 provider for tests: token endpoint, introspection for Dovecot, revocation.

``TokenServer`` is an ``http.server`` in a thread on 127.0.0.1 (port 12880 by default, the
introspection URL that ``scripts/mailstack.sh`` gives Dovecot's oauth2 passdb):

* ``POST /token`` - the refresh-token grant (RFC 6749 section 6): ``grant_type=refresh_token``,
  ``refresh_token``, ``client_id``, ``client_secret`` (form fields or HTTP Basic) and an
  optional ``scope``; answers ``{"access_token", "token_type", "expires_in", "scope"}``, or
  ``400 {"error": "invalid_grant"}`` for an unknown or revoked refresh token, ``401
  {"error": "invalid_client"}`` for a wrong client secret, as Microsoft and Google do;
* ``GET /authorize`` and ``grant_type=authorization_code`` - the consent (RFC 6749 section 4.1
  with PKCE S256, RFC 7636), as ``mailbot oauth authorize`` runs it: the user set with
  ``consent_as(email)`` consents at once and the browser is redirected to ``redirect_uri`` with a
  one-time code (``deny_consent()``: with ``error=access_denied``); the token endpoint then
  checks the client, the redirect URI and the code verifier, and issues a refresh token;
* ``POST /introspect`` - what Dovecot asks on an XOAUTH2/OAUTHBEARER login (``token=...``):
  ``{"active": true, "email": USER}`` for an access token that was issued, has not expired
  and was not revoked, else ``{"active": false}``.

Everything is recorded (``grants``, ``introspections``) so a test can assert, e.g., that
no expired token was ever presented. ``revoke(refresh_token)`` withdraws the consent:
the refresh token stops working and the access tokens issued from it become inactive.

Example::

    with TokenServer() as ts:
        ts.add_client("mailbot", "s3cret")
        refresh = ts.issue_refresh_token("helpdesk@lpse.test", expires_in=60)
        ...   # mailbot config: token_url = ts.token_url, client_id = "mailbot", ...
        ts.revoke(refresh)
"""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlencode

DEFAULT_PORT = 12880


@dataclass
class Grant:
    refresh_token: str
    client_id: str
    scope: str
    access_token: str  # "" when refused
    error: str  # "" when granted
    at: float


@dataclass
class Introspection:
    token: str
    active: bool
    reason: str  # "ok" | "unknown" | "expired" | "revoked"
    email: str
    at: float


@dataclass
class _Refresh:
    email: str
    expires_in: float
    revoked: bool = False
    rotate: bool = False  # each grant hands out a new refresh token and retires this one
    retired: bool = False  # replaced by rotation: refused like an unknown token
    access_tokens: list[str] = field(default_factory=list)


@dataclass
class _Access:
    email: str
    refresh_token: str
    expires_at: float


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    email: str
    scope: str
    used: bool = False


class TokenServer:
    def __init__(self, port: int = DEFAULT_PORT, host: str = "127.0.0.1", bind_timeout: float = 120.0) -> None:
        self.host = host
        self.port = port
        self.bind_timeout = bind_timeout
        self.clients: dict[str, str] = {}
        self.grants: list[Grant] = []
        self.introspections: list[Introspection] = []
        self._refresh: dict[str, _Refresh] = {}
        self.successors: dict[str, str] = {}  # rotated refresh token -> the one that replaced it
        self._access: dict[str, _Access] = {}
        self._codes: dict[str, _Code] = {}
        self._consenting = ""  # the signed-in user who consents at /authorize ("" declines)
        self.consents: list[tuple[str, str]] = []  # (email, refresh token) issued by the code grant
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- set-up ---------------------------------------------------------------------------

    @property
    def token_url(self) -> str:
        return f"http://{self.host}:{self.port}/token"

    @property
    def authorize_url(self) -> str:
        return f"http://{self.host}:{self.port}/authorize"

    def add_client(self, client_id: str, client_secret: str) -> None:
        self.clients[client_id] = client_secret

    def consent_as(self, email: str) -> None:
        """The browser that opens /authorize is signed in as ``email``, who consents."""
        self._consenting = email.lower()

    def deny_consent(self) -> None:
        self._consenting = ""

    def _authorize(self, query: dict[str, str]) -> str:
        """The consent page: the address the browser is redirected to."""
        redirect_uri = query.get("redirect_uri", "")
        answer = {"state": query.get("state", "")}
        if not self._consenting:
            answer["error"] = "access_denied"
            answer["error_description"] = "The user declined the consent."
        elif query.get("response_type") != "code" or query.get("code_challenge_method") != "S256" \
                or query.get("client_id") not in self.clients or not query.get("code_challenge"):
            answer["error"] = "invalid_request"
        else:
            code = "code-" + secrets.token_urlsafe(24)
            with self._lock:
                self._codes[code] = _Code(query["client_id"], redirect_uri, query["code_challenge"], self._consenting,
                                          query.get("scope", ""))
            answer["code"] = code
        return redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(answer)

    def _code_grant(self, form: dict[str, str], client_id: str) -> tuple[int, dict[str, object]]:
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        with self._lock:
            entry = self._codes.get(form.get("code", ""))
            if entry is None or entry.used or entry.client_id != client_id:
                return 400, {"error": "invalid_grant", "error_description": "unknown or used code"}
            entry.used = True  # one-time, whatever the outcome
            if entry.redirect_uri != form.get("redirect_uri"):
                return 400, {"error": "invalid_grant", "error_description": "redirect_uri differs"}
            if challenge != entry.challenge:
                return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        refresh = self.issue_refresh_token(entry.email)
        with self._lock:
            access = "at-" + secrets.token_urlsafe(24)
            self._refresh[refresh].access_tokens.append(access)
            self._access[access] = _Access(entry.email, refresh, time.time() + self._refresh[refresh].expires_in)
            self.consents.append((entry.email, refresh))
        return 200, {"access_token": access, "token_type": "Bearer", "expires_in": 3600, "scope": entry.scope,
                     "refresh_token": refresh}

    def issue_refresh_token(self, email: str, *, expires_in: float = 3600, rotate: bool = False) -> str:
        """A refresh token for ``email`` whose access tokens live ``expires_in`` seconds.

        ``rotate``: strict rotation (as Okta, Auth0 and Microsoft's SPA tokens do): every grant
        answers with a new refresh token, and the one presented stops working."""
        token = "rt-" + secrets.token_urlsafe(24)
        with self._lock:
            self._refresh[token] = _Refresh(email=email.lower(), expires_in=expires_in, rotate=rotate)
        return token

    def revoke(self, refresh_token: str) -> None:
        """Withdraw consent: the refresh token and every access token issued from it stop working."""
        with self._lock:
            entry = self._refresh[refresh_token]
            entry.revoked = True

    def access_tokens(self, refresh_token: str) -> list[str]:
        with self._lock:
            return list(self._refresh[refresh_token].access_tokens)

    def granted(self, refresh_token: str) -> list[Grant]:
        with self._lock:
            return [g for g in self.grants if g.refresh_token == refresh_token and not g.error]

    def refused(self, refresh_token: str) -> list[Grant]:
        with self._lock:
            return [g for g in self.grants if g.refresh_token == refresh_token and g.error]

    def presented(self, email: str) -> list[Introspection]:
        with self._lock:
            return [i for i in self.introspections if i.email == email.lower()]

    # ---- the endpoints --------------------------------------------------------------------

    def _token(self, form: dict[str, str], basic: tuple[str, str] | None) -> tuple[int, dict[str, object]]:
        client_id, client_secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        refresh_token = form.get("refresh_token", "")
        scope = form.get("scope", "")
        now = time.time()
        with self._lock:
            def refuse(status: int, error: str, description: str) -> tuple[int, dict[str, object]]:
                self.grants.append(Grant(refresh_token, client_id, scope, "", error, now))
                return status, {"error": error, "error_description": description}

            if form.get("grant_type") not in ("refresh_token", "authorization_code"):
                return refuse(400, "unsupported_grant_type", "only the refresh_token and authorization_code grants")
            if client_id not in self.clients or self.clients[client_id] != client_secret:
                return refuse(401, "invalid_client", "client authentication failed")
        if form.get("grant_type") == "authorization_code":
            return self._code_grant(form, client_id)
        with self._lock:
            entry = self._refresh.get(refresh_token)
            if entry is None:
                return refuse(400, "invalid_grant", "the refresh token is not known")
            if entry.retired:
                return refuse(400, "invalid_grant", "the refresh token was rotated and is no longer valid")
            if entry.revoked:
                return refuse(400, "invalid_grant", "the refresh token has been revoked (consent withdrawn)")
            access = "at-" + secrets.token_urlsafe(24)
            entry.access_tokens.append(access)
            self._access[access] = _Access(entry.email, refresh_token, now + entry.expires_in)
            self.grants.append(Grant(refresh_token, client_id, scope, access, "", now))
            answer: dict[str, object] = {"access_token": access, "token_type": "Bearer",
                                         "expires_in": entry.expires_in, "scope": scope}
            if entry.rotate:
                successor = "rt-" + secrets.token_urlsafe(24)
                self._refresh[successor] = _Refresh(email=entry.email, expires_in=entry.expires_in, rotate=True)
                self.successors[refresh_token] = successor
                entry.retired = True  # presenting it again is invalid_grant; its access tokens live on
                answer["refresh_token"] = successor
            return 200, answer

    def _introspect(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        token = form.get("token", "")
        now = time.time()
        with self._lock:
            access = self._access.get(token)
            if access is None:
                reason, email = "unknown", ""
            elif self._refresh[access.refresh_token].revoked:
                reason, email = "revoked", access.email
            elif now >= access.expires_at:
                reason, email = "expired", access.email
            else:
                reason, email = "ok", access.email
            self.introspections.append(Introspection(token, reason == "ok", reason, email, now))
        if reason != "ok":
            return 200, {"active": False}
        return 200, {"active": True, "email": email, "exp": int(access.expires_at)}  # type: ignore[union-attr]

    # ---- the server -------------------------------------------------------------------------

    def start(self) -> TokenServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                if path != "/authorize":
                    self.send_error(404)
                    return
                self.send_response(302)
                self.send_header("Location", owner._authorize({k: v[0] for k, v in parse_qs(query).items()}))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", errors="replace")
                form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
                basic = None
                auth = self.headers.get("Authorization", "")
                if auth.lower().startswith("basic "):
                    user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                    basic = (unquote(user), unquote(password))
                path = self.path.split("?")[0]
                if path == "/token":
                    status, answer = owner._token(form, basic)
                elif path == "/introspect":
                    status, answer = owner._introspect(form)
                else:
                    status, answer = 404, {"error": "not_found"}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        # The port is fixed (Dovecot's config names it): wait for another test run to free it.
        deadline = time.monotonic() + self.bind_timeout
        while True:
            try:
                self._httpd = Server((self.host, self.port), Handler)
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="tokenserver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
