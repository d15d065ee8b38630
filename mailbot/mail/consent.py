"""OAuth2 consent for XOAUTH2 mailboxes: the authorization-code grant with PKCE (RFC 6749
section 4.1, RFC 7636) that yields the refresh token ``mailbot.mail.oauth`` then lives on.

``mailbot oauth authorize`` runs it once per mailbox account:

1. :func:`begin` makes a random ``state`` and PKCE verifier, and the address of the provider's
   consent page (``authorize_url``, or derived from ``token_url`` for Microsoft 365 and Google);
2. the operator opens it in a browser, signs in as the mailbox and consents; the provider sends
   the browser on to ``redirect_uri``: a loopback address (RFC 8252 section 7.3) where a
   :class:`RedirectListener` answers that one request, or, when the browser runs on another
   machine, the operator copies the address the browser ends on into the terminal;
3. :func:`code_from_redirect` checks ``state`` (the redirect of a consent this run did not start
   is refused) and takes the code; :func:`exchange` trades it, with the verifier, for the tokens.

No code, token or secret is logged here; the command prints the refresh token once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from mailbot.mail.oauth import Post, urllib_post
from mailbot.settings.config import OAuth2Settings

_MICROSOFT_TOKEN = re.compile(r"^https://login\.microsoftonline\.com/([^/?#]+)/oauth2/v2\.0/token$")
_GOOGLE_TOKEN = "https://oauth2.googleapis.com/token"
_GOOGLE_AUTHORIZE = "https://accounts.google.com/o/oauth2/v2/auth"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _same(given: str, expected: str) -> bool:
    # As bytes: compare_digest refuses str with non-ASCII characters, and the given one is untrusted.
    return secrets.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


class ConsentError(Exception):
    """The consent did not yield a refresh token. ``str()`` is safe to print."""


def authorize_endpoint(settings: OAuth2Settings) -> str:
    """The provider's consent page: ``authorize_url``, or the one that goes with ``token_url``."""
    if settings.authorize_url:
        return settings.authorize_url
    microsoft = _MICROSOFT_TOKEN.match(settings.token_url)
    if microsoft:
        return f"https://login.microsoftonline.com/{microsoft.group(1)}/oauth2/v2.0/authorize"
    if settings.token_url == _GOOGLE_TOKEN:
        return _GOOGLE_AUTHORIZE
    raise ConsentError(f"oauth2.authorize_url is not set and {settings.token_url} is neither Microsoft 365's nor "
                       "Google's token endpoint: set authorize_url to the provider's authorization endpoint")


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 ``S256``: BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Consent:
    """One consent in progress: the address to open and what the redirect must match."""

    url: str
    redirect_uri: str
    state: str = field(repr=False)
    verifier: str = field(repr=False)


def begin(settings: OAuth2Settings, redirect_uri: str, *, login_hint: str = "") -> Consent:
    endpoint = authorize_endpoint(settings)
    state = secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(64)  # 86 characters of the unreserved set (RFC 7636: 43 to 128)
    params = {
        "response_type": "code",
        "client_id": settings.client_id,
        "redirect_uri": redirect_uri,
        "scope": settings.scope,
        "state": state,
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
        # Ask again even if the account consented before: only a fresh consent is sure to
        # come with a refresh token.
        "prompt": "consent",
    }
    if login_hint:
        params["login_hint"] = login_hint
    if urlsplit(endpoint).hostname == "accounts.google.com":
        params["access_type"] = "offline"  # without it Google gives no refresh token
    separator = "&" if "?" in endpoint else "?"
    return Consent(endpoint + separator + urlencode(params, quote_via=quote), redirect_uri, state, verifier)


def code_from_redirect(consent: Consent, redirected: str) -> str:
    """The authorization code from the address the provider redirected the browser to."""
    query = urlsplit(redirected.strip()).query
    params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
    if not _same(params.get("state", ""), consent.state):
        raise ConsentError("the redirect does not belong to this consent (its state differs); start again")
    error = params.get("error", "")
    if error:
        detail = params.get("error_description", "")[:300]
        if error == "access_denied":
            raise ConsentError(f"the consent was declined at the provider ({detail or error})")
        raise ConsentError(f"the provider refused the consent: {error}" + (f": {detail}" if detail else ""))
    code = params.get("code", "")
    if not code:
        raise ConsentError("the redirect carries no authorization code")
    return code


@dataclass(frozen=True)
class Tokens:
    refresh_token: str = field(repr=False)
    access_token: str = field(repr=False)
    scope: str


def exchange(settings: OAuth2Settings, consent: Consent, code: str, *, where: str = "oauth2",
             post: Post | None = None) -> Tokens:
    """Trade the code (and the PKCE verifier) for the tokens at ``token_url``."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": consent.redirect_uri,
        "client_id": settings.client_id,
        "code_verifier": consent.verifier,
    }
    secret = settings.client_secret_value(where)
    if secret:  # public clients (no secret) rely on PKCE alone
        form["client_secret"] = secret
    try:
        status, body = (post or urllib_post)(settings.token_url, form, settings.timeout)
    except OSError as exc:
        raise ConsentError(f"token endpoint {settings.token_url} unreachable: {exc}") from None
    try:
        answer = json.loads(body.decode("utf-8", errors="replace"))
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise ConsentError(f"token endpoint answered HTTP {status} without a JSON object")
    if status != 200 or answer.get("error"):
        detail = str(answer.get("error_description", ""))[:300]
        raise ConsentError(f"the token endpoint refused the code (HTTP {status}): {answer.get('error', '?')}"
                           + (f": {detail}" if detail else ""))
    refresh = answer.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        raise ConsentError("the token endpoint gave no refresh token: Microsoft 365 needs offline_access in "
                           "oauth2.scope; other providers may need the client registered for offline access")
    return Tokens(refresh, str(answer.get("access_token", "")), str(answer.get("scope", settings.scope)))


class RedirectListener:
    """Answers the one browser request the provider's redirect makes, on a loopback address.

    ``redirect_uri`` must be ``http://`` on 127.0.0.1, ::1 or localhost; port 0 takes a free
    port, and :attr:`redirect_uri` then names the one taken. With ``state`` (set it before
    waiting), a request carrying another state is answered 400 and the wait goes on: another
    local process cannot end the consent by calling the port first.
    """

    def __init__(self, redirect_uri: str, state: str = "") -> None:
        parts = urlsplit(redirect_uri)
        host = parts.hostname or ""
        if parts.scheme != "http" or host not in _LOOPBACK:
            raise ConsentError(f"{redirect_uri} is not a loopback http:// address this machine can listen on; "
                               "use --paste")
        self.path = parts.path or "/"
        self.received: str | None = None  # the path and query the browser asked for
        self.state = state
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != owner.path:
                    self.send_error(404)
                    return
                state = parse_qs(parts.query).get("state", [""])[0]
                if owner.state and not _same(state, owner.state):
                    self.send_error(400, "not the answer to this consent")
                    return
                owner.received = self.path
                page = (b"<!doctype html><meta charset=utf-8><title>mailbot</title>"
                        b"<p>mailbot received the answer of the consent. You can close this window and go back "
                        b"to the terminal.</p>")
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

        try:
            self._server = HTTPServer(("::1" if host == "::1" else "127.0.0.1", parts.port or 0), Handler)
        except OSError as exc:  # the port is taken, or no IPv6 loopback
            raise ConsentError(f"cannot listen on {redirect_uri}: {exc.strerror or exc}; choose another --port "
                               "or use --paste") from None
        port = self._server.server_address[1]
        self._origin = f"http://[::1]:{port}" if host == "::1" else f"http://{host}:{port}"
        self.redirect_uri = self._origin + self.path

    def wait(self, timeout: float) -> str:
        """The redirected address (``redirect_uri`` with the provider's query), or ConsentError."""
        deadline = time.monotonic() + timeout
        while self.received is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConsentError(f"no redirect arrived at {self.redirect_uri} within {timeout:.0f} s; if the "
                                   "browser runs on another machine, use --paste")
            self._server.timeout = min(left, 1.0)
            self._server.handle_request()
        return self._origin + self.received

    def close(self) -> None:
        self._server.server_close()

    def __enter__(self) -> RedirectListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
