"""OAuth2 token provider (refresh-token grant), its settings, and the log redaction behind it."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest

from mailbot.mail import oauth
from mailbot.mail.oauth import OAuthError, TokenProvider
from mailbot.settings import logs
from mailbot.settings.config import ConfigError, OAuth2Settings
from mailbot.settings.loading import load_settings


class FakeEndpoint:
    """Answers the token endpoint's POSTs; counts them."""

    def __init__(self, expires_in: float = 3600, status: int = 200, error: str = "", rotate: bool = False,
                 delay: float = 0.0) -> None:
        self.expires_in = expires_in
        self.status = status
        self.error = error
        self.rotate = rotate
        self.delay = delay
        self.calls: list[dict[str, str]] = []
        self.raise_exc: Exception | None = None

    def __call__(self, url: str, form: dict[str, str], timeout: float) -> tuple[int, bytes]:
        self.calls.append(dict(form))
        if self.delay:
            time.sleep(self.delay)
        if self.raise_exc is not None:
            raise self.raise_exc
        if self.status != 200:
            return self.status, json.dumps({"error": self.error, "error_description":
                                            f"AADSTS70008: token {form['refresh_token']} has expired"}).encode()
        n = len(self.calls)
        answer: dict[str, object] = {"access_token": f"access-token-{n:04d}", "token_type": "Bearer",
                                     "expires_in": self.expires_in}
        if self.rotate:
            answer["refresh_token"] = f"rotated-refresh-{n:04d}"
        return 200, json.dumps(answer).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings(**kw: object) -> OAuth2Settings:
    base: dict[str, object] = {"token_url": "https://login.example.test/tenant/oauth2/v2.0/token",
                               "client_id": "app-1", "client_secret": "client-secret-value",
                               "refresh_token": "refresh-token-value", "scope": "https://mail.google.com/"}
    return OAuth2Settings.model_validate({**base, **kw})


def test_token_is_cached_and_refreshed_before_expiry() -> None:
    endpoint, clock = FakeEndpoint(expires_in=3600), Clock()
    provider = TokenProvider(settings(refresh_margin=300), post=endpoint, clock=clock)
    assert provider.token() == "access-token-0001"
    assert endpoint.calls[0] == {"grant_type": "refresh_token", "refresh_token": "refresh-token-value",
                                 "client_id": "app-1", "client_secret": "client-secret-value",
                                 "scope": "https://mail.google.com/"}
    clock.now += 3299
    assert provider.token() == "access-token-0001"  # cached until 300 s before expiry
    clock.now += 2
    assert provider.token() == "access-token-0002"  # refreshed while the old one is still valid
    assert len(endpoint.calls) == 2


def test_short_lived_tokens_are_refreshed_at_half_their_life() -> None:
    endpoint, clock = FakeEndpoint(expires_in=4), Clock()
    provider = TokenProvider(settings(refresh_margin=300), post=endpoint, clock=clock)
    provider.token()
    clock.now += 1.9
    assert provider.token() == "access-token-0001"
    clock.now += 0.2
    assert provider.token() == "access-token-0002"


def test_concurrent_callers_share_one_refresh() -> None:
    endpoint = FakeEndpoint(delay=0.2)
    provider = TokenProvider(settings(), post=endpoint)
    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(provider.token())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == ["access-token-0001"] * 8
    assert len(endpoint.calls) == 1


def test_invalid_grant_is_permanent_and_says_nothing_secret() -> None:
    endpoint, clock = FakeEndpoint(status=400, error="invalid_grant"), Clock()
    provider = TokenProvider(settings(), post=endpoint, clock=clock)
    with pytest.raises(OAuthError) as info:
        provider.token()
    exc = info.value
    assert exc.permanent and exc.error == "invalid_grant"
    text = str(exc)
    assert "invalid_grant" in text and "HTTP 400" in text and "login.example.test" in text
    assert "refresh-token-value" not in text and "client-secret-value" not in text
    assert provider.failure is exc
    # No hammering: asked again only after a pause.
    with pytest.raises(OAuthError):
        provider.token()
    assert len(endpoint.calls) == 1
    clock.now += 61
    with pytest.raises(OAuthError):
        provider.token()
    assert len(endpoint.calls) == 2
    # Consent renewed at the provider: the next refresh works and the failure is over.
    endpoint.status = 200
    clock.now += 61
    assert provider.token().startswith("access-token-")
    assert provider.failure is None


def test_wrong_client_secret_is_permanent() -> None:
    provider = TokenProvider(settings(), post=FakeEndpoint(status=401, error="invalid_client"))
    with pytest.raises(OAuthError) as info:
        provider.token()
    assert info.value.permanent and info.value.error == "invalid_client"


def test_endpoint_down_is_temporary_and_a_valid_token_is_used_meanwhile() -> None:
    endpoint, clock = FakeEndpoint(expires_in=3600), Clock()
    provider = TokenProvider(settings(refresh_margin=300), post=endpoint, clock=clock)
    assert provider.token() == "access-token-0001"
    clock.now += 3400  # due for refresh, still valid for 200 s
    endpoint.raise_exc = OSError("connection refused")
    assert provider.token() == "access-token-0001"
    assert provider.failure is not None and not provider.failure.permanent
    clock.now += 300  # expired now
    with pytest.raises(OAuthError) as info:
        provider.token()
    assert not info.value.permanent and "unreachable" in str(info.value)
    endpoint.status, endpoint.raise_exc = 503, None
    endpoint.error = "temporarily_unavailable"
    with pytest.raises(OAuthError) as info:
        provider.token()
    assert not info.value.permanent


def test_rotated_refresh_token_is_used_next_time() -> None:
    endpoint, clock = FakeEndpoint(expires_in=100, rotate=True), Clock()
    provider = TokenProvider(settings(refresh_margin=10), post=endpoint, clock=clock)
    provider.token()
    clock.now += 95
    provider.token()
    assert [c["refresh_token"] for c in endpoint.calls] == ["refresh-token-value", "rotated-refresh-0001"]


class MemoryVault:
    """A TokenVault in a dict; ``broken`` makes it fail like a database that is down."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.broken = False

    def load(self, key: str) -> str | None:
        if self.broken:
            raise ConnectionError("database down")
        return self.tokens.get(key)

    def save(self, key: str, refresh_token: str) -> None:
        if self.broken:
            raise ConnectionError("database down")
        self.tokens[key] = refresh_token


def test_a_rotated_refresh_token_survives_a_restart() -> None:
    vault, endpoint = MemoryVault(), FakeEndpoint(rotate=True)
    first = TokenProvider(settings(), post=endpoint, clock=Clock(), vault=vault)
    first.token()
    assert list(vault.tokens.values()) == ["rotated-refresh-0001"]
    restarted = TokenProvider(settings(), post=endpoint, clock=Clock(), vault=vault)  # a new process
    restarted.token()
    assert endpoint.calls[1]["refresh_token"] == "rotated-refresh-0001"
    assert list(vault.tokens.values()) == ["rotated-refresh-0002"]  # the newest rotation replaced it


def test_a_new_configured_refresh_token_is_not_shadowed_by_a_stored_one() -> None:
    vault, endpoint = MemoryVault(), FakeEndpoint(rotate=True)
    TokenProvider(settings(), post=endpoint, clock=Clock(), vault=vault).token()
    # The operator ran the consent again and put the new token in the config.
    TokenProvider(settings(refresh_token="brand-new-refresh"), post=endpoint, clock=Clock(), vault=vault).token()
    assert endpoint.calls[1]["refresh_token"] == "brand-new-refresh"
    assert len(vault.tokens) == 2


def test_a_refused_stored_token_falls_back_to_the_configured_one() -> None:
    vault, endpoint = MemoryVault(), FakeEndpoint()
    TokenProvider(settings(), post=endpoint, clock=Clock(), vault=vault).token()  # no rotation: nothing stored
    assert vault.tokens == {}
    key = oauth.vault_key(settings(), "refresh-token-value")
    vault.tokens[key] = "stale-from-an-old-backup"
    answers = iter([(400, json.dumps({"error": "invalid_grant"}).encode()),
                    (200, json.dumps({"access_token": "fresh", "expires_in": 3600}).encode())])
    sent: list[str] = []

    def post(url: str, form: dict[str, str], timeout: float) -> tuple[int, bytes]:
        sent.append(form["refresh_token"])
        return next(answers)

    assert TokenProvider(settings(), post=post, clock=Clock(), vault=vault).token() == "fresh"
    assert sent == ["stale-from-an-old-backup", "refresh-token-value"]


def test_a_vault_that_fails_does_not_stop_logins(caplog: pytest.LogCaptureFixture) -> None:
    vault, endpoint = MemoryVault(), FakeEndpoint(rotate=True)
    vault.broken = True
    provider = TokenProvider(settings(), post=endpoint, clock=Clock(), vault=vault)
    with caplog.at_level(logging.WARNING):
        assert provider.token() == "access-token-0001"
    assert endpoint.calls[0]["refresh_token"] == "refresh-token-value"
    assert "token store not readable" in caplog.text and "not stored" in caplog.text
    assert "rotated-refresh" not in caplog.text  # the warning names no token


def test_invalidate_forces_a_refresh() -> None:
    endpoint = FakeEndpoint()
    provider = TokenProvider(settings(), post=endpoint)
    token = provider.token()
    provider.invalidate("some-other-token")
    assert provider.token() == token
    provider.invalidate(token)
    assert provider.token() != token


def test_tokens_never_reach_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    endpoint = FakeEndpoint()
    provider = TokenProvider(settings(), post=endpoint)
    token = provider.token()
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "login with %s / %s / %s", (
        token, "refresh-token-value", "client-secret-value"), None)
    for formatter in (logs.TextFormatter(), logs.JsonFormatter()):
        line = formatter.format(record)
        assert token not in line and "refresh-token-value" not in line and "client-secret-value" not in line
        assert logs.MASK in line
        assert "\n" not in line


def test_text_log_folds_a_traceback_onto_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = logs.TextFormatter().format(record)
    assert "\n" not in line and "Traceback" in line and "ValueError: boom" in line
    entry = json.loads(logs.JsonFormatter().format(record))
    assert entry["msg"] == "failed" and "ValueError: boom" in entry["exc"]


BASE = """
[helpdesk]
name = "Helpdesk"
address = "helpdesk@lpse.test"
[imap]
host = "outlook.office365.com"
port = 993
username = "helpdesk@lpse.test"
{imap}
[smtp]
host = "smtp.office365.com"
port = 587
username = "helpdesk@lpse.test"
{smtp}
[staff]
addresses = ["staf@lpse.test"]
[escalation]
lkpp_address = "lkpp@lkpp.test"
{extra}
"""

OAUTH = """
[oauth2]
token_url = "https://login.microsoftonline.com/tenant/oauth2/v2.0/token"
client_id = "app-1"
client_secret_env = "TEST_OAUTH_SECRET"
refresh_token_env = "TEST_OAUTH_REFRESH"
scope = "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access"
"""


def write(tmp_path: Path, imap: str = 'auth = "xoauth2"', smtp: str = 'auth = "xoauth2"', extra: str = OAUTH) -> Path:
    path = tmp_path / "mailbot.toml"
    path.write_text(BASE.format(imap=imap, smtp=smtp, extra=extra))
    return path


def test_shared_oauth2_section_serves_both_servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OAUTH_SECRET", "s")
    monkeypatch.setenv("TEST_OAUTH_REFRESH", "r")
    s = load_settings(write(tmp_path))
    assert s.imap.auth == s.smtp.auth == "xoauth2"
    assert s.imap.oauth2 == s.smtp.oauth2 and s.imap.oauth2 is not None
    assert s.imap.oauth2.refresh_token_value() == "r"


def test_oauth2_config_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_OAUTH_REFRESH", raising=False)
    monkeypatch.setenv("TEST_OAUTH_SECRET", "s")
    with pytest.raises(ConfigError, match="oauth2.refresh_token_env: environment variable TEST_OAUTH_REFRESH"):
        load_settings(write(tmp_path))
    with pytest.raises(ConfigError, match=r'imap: .*auth = "xoauth2" needs an \[oauth2\] section'):
        load_settings(write(tmp_path, extra=""))
    with pytest.raises(ConfigError, match="smtp: .*password or password_env is required"):
        load_settings(write(tmp_path, smtp=""))
    # Password for SMTP, XOAUTH2 for IMAP, per-server section.
    monkeypatch.setenv("TEST_OAUTH_REFRESH", "r")
    s = load_settings(write(tmp_path, imap='auth = "xoauth2"\n' + OAUTH.replace("[oauth2]", "[imap.oauth2]"),
                            smtp='password = "pw"', extra=""))
    assert s.imap.oauth2 is not None and s.smtp.oauth2 is None and s.smtp.auth == "password"
