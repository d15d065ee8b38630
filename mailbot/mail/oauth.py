"""OAuth2 access tokens for XOAUTH2 logins (Microsoft 365, Google Workspace), from a refresh token.

``provider_for(settings)`` returns the process-wide :class:`TokenProvider` for one set of
OAuth2 settings (IMAP and SMTP share one when their settings are the same). ``token()``
returns a cached access token and refreshes it with the refresh-token grant (RFC 6749
section 6) shortly before it expires (``refresh_margin``, at most half its lifetime), so a
login never presents an expired token. It is thread-safe: the intake, the outbox thread and
the status check may ask at once; one refresh runs at a time and the others wait for it.

A refused refresh (HTTP 400/401 such as ``invalid_grant``: consent revoked or expired, the
refresh token unknown; ``invalid_client``: a wrong client secret) raises
:class:`OAuthError` with ``permanent=True``: the operator has to act. An unreachable
endpoint or a 5xx is temporary. Tokens and secrets never appear in an error message (the
provider's ``error_description`` is kept, with any token value masked), and each token is
registered with :mod:`mailbot.settings.logs` so that even a stray log line cannot show it.

A rotated refresh token (Microsoft returns a new one with every grant) is used for the next
refresh and handed to a :class:`TokenVault` (the database: ``models.DatabaseTokenVault``), so a
restart months later goes on with the newest token rather than the configured one, which the
provider may have expired meanwhile. The vault is keyed by the token endpoint, the client and a
hash of the configured token: putting a new refresh token in the config starts afresh. If the
provider refuses a stored token, the configured one is tried once before giving up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mailbot.core.errors import MailbotError
from mailbot.settings import logs
from mailbot.settings.config import OAuth2Settings

log = logging.getLogger(__name__)

#: OAuth2 error codes that mean the refresh token or the client is not accepted (RFC 6749 5.2).
PERMANENT_ERRORS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope",
                              "unsupported_grant_type", "invalid_request"})

#: After a refused refresh, ask the token endpoint again at most this often (seconds).
RETRY_AFTER_REFUSAL = 60.0


class OAuthError(MailbotError):
    """The token endpoint did not give an access token. ``str()`` is safe to log."""

    def __init__(self, message: str, *, error: str = "", permanent: bool = False) -> None:
        super().__init__(message)
        self.error = error
        self.permanent = permanent


@dataclass(frozen=True)
class TokenResponse:
    access_token: str
    expires_in: float
    refresh_token: str  # "" when the provider did not rotate it


#: ``post(url, form, timeout) -> (HTTP status, body)``; replaced in unit tests.
Post = Callable[[str, dict[str, str], float], tuple[int, bytes]]


def urllib_post(url: str, form: dict[str, str], timeout: float) -> tuple[int, bytes]:
    # Imported here: urllib.request (with http.client) is 0.5 MB of RSS that a mailbox logging in
    # with a password, the usual case, never needs.
    import urllib.error
    import urllib.request

    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
        "User-Agent": "mailbot"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:  # 4xx/5xx still carry the JSON error
        return int(exc.code), exc.read()


class TokenVault(Protocol):
    """Where rotated refresh tokens survive a restart."""

    def load(self, key: str) -> str | None: ...

    def save(self, key: str, refresh_token: str) -> None: ...


def vault_key(settings: OAuth2Settings, configured_token: str) -> str:
    """Names one grant: endpoint, client and (a hash of) the configured refresh token."""
    material = "\0".join((settings.token_url, settings.client_id, configured_token))
    return hashlib.sha256(material.encode()).hexdigest()


class TokenProvider:
    def __init__(self, settings: OAuth2Settings, *, where: str = "oauth2", post: Post | None = None,
                 clock: Callable[[], float] = time.monotonic, vault: TokenVault | None = None) -> None:
        self.settings = settings
        self.where = where
        self._post = post or urllib_post
        self._clock = clock
        self._vault = vault
        self._vault_read = False
        self._lock = threading.Lock()
        self._token = ""
        self._refresh_at = 0.0  # clock() value from which the cached token is refreshed
        self._expires_at = 0.0
        self._rotated = ""  # a refresh token the provider handed back (rotation), or the vault's
        self._failure: OAuthError | None = None
        self._failed_at = 0.0
        self.refreshes = 0

    @property
    def endpoint(self) -> str:
        """The token URL without query or credentials, to name it in messages."""
        parts = urllib.parse.urlsplit(self.settings.token_url)
        return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}{parts.path}"

    @property
    def failure(self) -> OAuthError | None:
        """The last refresh error, until a refresh succeeds again."""
        return self._failure

    def expires_in(self) -> float | None:
        """Seconds the cached token is still valid (None: no token)."""
        if not self._token:
            return None
        return self._expires_at - self._clock()

    def token(self) -> str:
        """A valid access token; refreshes when it is due. Raises :class:`OAuthError`."""
        with self._lock:
            now = self._clock()
            if self._token and now < self._refresh_at:
                return self._token
            if (self._failure is not None and self._failure.permanent
                    and now - self._failed_at < RETRY_AFTER_REFUSAL):
                raise self._failure  # do not hammer the endpoint with a refresh token it refused
            try:
                response = self._request()
            except OAuthError as exc:
                self._failure, self._failed_at = exc, now
                if self._token and now < self._expires_at and not exc.permanent:
                    # The endpoint is down but the token still works: use it while it lasts.
                    log.warning("%s; using the current token for %.0f s more", exc, self._expires_at - now)
                    return self._token
                self._token = ""
                raise
            lifetime = max(response.expires_in, 1.0)
            self._token = response.access_token
            self._expires_at = now + lifetime
            self._refresh_at = now + lifetime - min(self.settings.refresh_margin, lifetime / 2)
            if response.refresh_token:
                logs.register_secret(response.refresh_token)
                if response.refresh_token != self._rotated:
                    self._rotated = response.refresh_token
                    self._store(response.refresh_token)
            logs.register_secret(response.access_token)
            if self._failure is not None:
                log.info("oauth2 token refresh at %s works again", self.endpoint)
            self._failure = None
            self.refreshes += 1
            log.debug("oauth2 access token refreshed at %s, valid %.0f s", self.endpoint, lifetime)
            return self._token

    def invalidate(self, token: str | None = None) -> None:
        """Forget the cached token (the server refused it), so the next ``token()`` refreshes."""
        with self._lock:
            if token is None or token == self._token:
                self._token = ""
                self._refresh_at = 0.0

    def _stored(self, configured: str) -> str:
        """The vault's newer refresh token for this grant, read once per process."""
        if self._vault is None or self._vault_read:
            return ""
        self._vault_read = True
        try:
            stored = self._vault.load(vault_key(self.settings, configured)) or ""
        except Exception as exc:
            log.warning("oauth2 token store not readable (%s); using the configured refresh token",
                        type(exc).__name__)
            return ""
        if stored:
            logs.register_secret(stored)
            log.info("oauth2 for client %s: using the refresh token stored at its last rotation",
                     self.settings.client_id)
        return stored

    def _store(self, refresh_token: str) -> None:
        if self._vault is None:
            return
        try:
            self._vault.save(vault_key(self.settings, self.settings.refresh_token_value(self.where)),
                             refresh_token)
        except Exception as exc:
            log.warning("oauth2 rotated refresh token not stored (%s); it is used from memory",
                        type(exc).__name__)

    def _request(self) -> TokenResponse:
        configured = self.settings.refresh_token_value(self.where)
        self._rotated = self._rotated or self._stored(configured)
        try:
            return self._grant(self._rotated or configured)
        except OAuthError as exc:
            if not (exc.permanent and self._rotated and self._rotated != configured):
                raise
            # A stored or rotated token the provider no longer accepts (a database restored from
            # an old backup, a reset on the provider's side): the configured one may still work.
            log.warning("%s; trying the configured refresh token", exc)
            self._rotated = ""
            return self._grant(configured)

    def _grant(self, refresh_token: str) -> TokenResponse:
        s = self.settings
        secret = s.client_secret_value(self.where)
        logs.register_secret(refresh_token)
        logs.register_secret(secret)
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": s.client_id}
        if secret:
            form["client_secret"] = secret
        if s.scope:
            form["scope"] = s.scope
        where = f"oauth2 token refresh at {self.endpoint} (client {s.client_id})"
        try:
            status, body = self._post(s.token_url, form, s.timeout)
        except (OSError, ValueError) as exc:  # URLError, timeouts, refused connections
            reason = getattr(exc, "reason", exc)
            raise OAuthError(f"{where} failed: endpoint unreachable: {type(exc).__name__}: {reason}") from None
        try:
            answer = json.loads(body.decode("utf-8", errors="replace") or "{}")
        except json.JSONDecodeError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if status == 200 and isinstance(answer.get("access_token"), str) and answer["access_token"]:
            try:
                expires_in = float(answer.get("expires_in", 3600))
            except (TypeError, ValueError):
                expires_in = 3600.0
            rotated = answer.get("refresh_token")
            return TokenResponse(answer["access_token"], expires_in, rotated if isinstance(rotated, str) else "")
        error = str(answer.get("error") or f"HTTP {status}")
        description = " ".join(str(answer.get("error_description") or "").split())[:300]
        description = logs.redact(description.replace(refresh_token, "********"))
        permanent = status in (400, 401, 403) and (error in PERMANENT_ERRORS or status in (401, 403))
        text = f"{where} refused: {error}" + (f" ({description})" if description else "") + f" [HTTP {status}]"
        raise OAuthError(text, error=error, permanent=permanent)


_providers: dict[tuple[str, ...], TokenProvider] = {}
_providers_lock = threading.Lock()
_vault: TokenVault | None = None


def use_vault(vault: TokenVault | None) -> None:
    """Where providers made from now on keep rotated refresh tokens (``None``: memory only)."""
    global _vault
    with _providers_lock:
        _vault = vault
        _providers.clear()


def provider_for(settings: OAuth2Settings, where: str = "oauth2") -> TokenProvider:
    """The process-wide provider for these settings (one token cache per refresh token and scope)."""
    key = (settings.token_url, settings.client_id, settings.refresh_token, settings.refresh_token_env,
           settings.scope)
    with _providers_lock:
        provider = _providers.get(key)
        if provider is None or provider.settings != settings:
            provider = _providers[key] = TokenProvider(settings, where=where, vault=_vault)
        return provider


def reset() -> None:
    """Forget every provider (tests; a process that reloads its settings)."""
    with _providers_lock:
        _providers.clear()
