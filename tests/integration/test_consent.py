"""The OAuth2 consent (``mailbot.mail.consent``): PKCE, the consent address, the redirect, the code exchange.

The whole flow against a token server, with the resulting token logging in to Dovecot and
Postfix, is ``tests/e2e/test_oauth.py``; these tests pin each step's rules.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from mailbot.mail import consent
from mailbot.settings.config import ConfigError, OAuth2Settings
from mailbot.settings.loading import load_settings

MICROSOFT = "https://login.microsoftonline.com/contoso-tenant/oauth2/v2.0/token"


def settings(**kw: object) -> OAuth2Settings:
    values: dict[str, object] = {"token_url": MICROSOFT, "client_id": "client-1", "client_secret": "cs-1",
                                 "scope": "https://outlook.office.com/IMAP.AccessAsUser.All offline_access"}
    values.update(kw)
    return OAuth2Settings.model_validate(values, context={"consent": True})


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_the_pkce_challenge_is_rfc_7636s() -> None:
    # RFC 7636 Appendix B.
    assert consent.pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == \
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_the_consent_page_goes_with_the_token_endpoint() -> None:
    assert consent.authorize_endpoint(settings()) == \
        "https://login.microsoftonline.com/contoso-tenant/oauth2/v2.0/authorize"
    assert consent.authorize_endpoint(settings(token_url="https://oauth2.googleapis.com/token")) == \
        "https://accounts.google.com/o/oauth2/v2/auth"
    assert consent.authorize_endpoint(settings(authorize_url="https://idp.example/auth")) == "https://idp.example/auth"
    with pytest.raises(consent.ConsentError, match="authorize_url is not set"):
        consent.authorize_endpoint(settings(token_url="https://idp.example/token"))


def test_the_consent_address_carries_the_client_the_challenge_and_a_fresh_state() -> None:
    first = consent.begin(settings(), "http://127.0.0.1:8765/", login_hint="helpdesk@lpse.go.id")
    params = query(first.url)
    assert first.url.startswith("https://login.microsoftonline.com/contoso-tenant/oauth2/v2.0/authorize?")
    assert params["response_type"] == "code" and params["client_id"] == "client-1"
    assert params["redirect_uri"] == "http://127.0.0.1:8765/" and params["login_hint"] == "helpdesk@lpse.go.id"
    assert params["scope"] == "https://outlook.office.com/IMAP.AccessAsUser.All offline_access"
    assert params["code_challenge_method"] == "S256"
    assert params["code_challenge"] == consent.pkce_challenge(first.verifier)
    assert params["state"] == first.state and params["prompt"] == "consent"
    assert "access_type" not in params  # Google's parameter only
    assert 43 <= len(first.verifier) <= 128 and first.verifier not in first.url  # the verifier stays here
    second = consent.begin(settings(), "http://127.0.0.1:8765/")
    assert second.state != first.state and second.verifier != first.verifier
    assert "verifier=" not in repr(first) and first.verifier not in repr(first)
    google = consent.begin(settings(token_url="https://oauth2.googleapis.com/token"), "http://127.0.0.1:1/")
    assert query(google.url)["access_type"] == "offline"  # or Google gives no refresh token


def test_the_code_is_taken_only_from_this_consents_redirect() -> None:
    started = consent.begin(settings(), "http://127.0.0.1:8765/")
    assert consent.code_from_redirect(started, f" http://127.0.0.1:8765/?code=abc&state={started.state}\n") == "abc"
    with pytest.raises(consent.ConsentError, match="state differs"):
        consent.code_from_redirect(started, "http://127.0.0.1:8765/?code=abc&state=someone-elses")
    with pytest.raises(consent.ConsentError, match="state differs"):
        consent.code_from_redirect(started, "http://127.0.0.1:8765/?code=abc")
    with pytest.raises(consent.ConsentError, match="state differs"):
        consent.code_from_redirect(started, "http://127.0.0.1:8765/?code=abc&state=%C3%A9t%C3%A9")
    with pytest.raises(consent.ConsentError, match="declined at the provider .AADSTS65004"):
        consent.code_from_redirect(started, f"http://127.0.0.1:8765/?error=access_denied&"
                                            f"error_description=AADSTS65004&state={started.state}")
    with pytest.raises(consent.ConsentError, match="refused the consent: invalid_scope"):
        consent.code_from_redirect(started, f"http://127.0.0.1:8765/?error=invalid_scope&state={started.state}")
    with pytest.raises(consent.ConsentError, match="no authorization code"):
        consent.code_from_redirect(started, f"http://127.0.0.1:8765/?state={started.state}")


class FakeTokenEndpoint:
    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body
        self.calls: list[tuple[str, dict[str, str]]] = []

    def __call__(self, url: str, form: dict[str, str], timeout: float) -> tuple[int, bytes]:
        self.calls.append((url, dict(form)))
        return self.status, self.body


def test_the_code_is_exchanged_with_the_verifier_for_a_refresh_token() -> None:
    started = consent.begin(settings(), "http://127.0.0.1:8765/")
    endpoint = FakeTokenEndpoint(200, b'{"access_token": "at-1", "refresh_token": "rt-1", "scope": "x"}')
    tokens = consent.exchange(settings(), started, "abc", post=endpoint)
    assert (tokens.refresh_token, tokens.access_token, tokens.scope) == ("rt-1", "at-1", "x")
    assert "rt-1" not in repr(tokens)
    [(url, form)] = endpoint.calls
    assert url == MICROSOFT
    assert form == {"grant_type": "authorization_code", "code": "abc", "redirect_uri": "http://127.0.0.1:8765/",
                    "client_id": "client-1", "code_verifier": started.verifier, "client_secret": "cs-1"}
    public = FakeTokenEndpoint(200, b'{"access_token": "at-1", "refresh_token": "rt-1"}')
    consent.exchange(settings(client_secret=""), started, "abc", post=public)
    assert "client_secret" not in public.calls[0][1]  # a public client: PKCE alone


@pytest.mark.parametrize(("status", "body", "message"), [
    (400, b'{"error": "invalid_grant", "error_description": "AADSTS70008: the code has expired"}',
     "refused the code .HTTP 400.: invalid_grant: AADSTS70008"),
    (200, b'{"access_token": "at-1"}', "no refresh token: Microsoft 365 needs offline_access"),
    (502, b"<html>Bad gateway</html>", "HTTP 502 without a JSON object"),
])
def test_a_refused_exchange_says_why(status: int, body: bytes, message: str) -> None:
    started = consent.begin(settings(), "http://127.0.0.1:8765/")
    with pytest.raises(consent.ConsentError, match=message):
        consent.exchange(settings(), started, "abc", post=FakeTokenEndpoint(status, body))


def test_an_unreachable_token_endpoint_is_a_clear_error() -> None:
    def down(url: str, form: dict[str, str], timeout: float) -> tuple[int, bytes]:
        raise ConnectionRefusedError(111, "Connection refused")

    started = consent.begin(settings(), "http://127.0.0.1:8765/")
    with pytest.raises(consent.ConsentError, match="unreachable"):
        consent.exchange(settings(), started, "abc", post=down)


def browse(listener: consent.RedirectListener, *urls: str) -> tuple[str, list[tuple[int, bytes]]]:
    """A browser (or another local process) opening ``urls`` in turn while the listener waits:
    what the listener took as the redirect, and (status, body) of each answer."""
    answers: list[tuple[int, bytes]] = []

    def visit() -> None:
        for url in urls:
            try:
                with urllib.request.urlopen(url, timeout=10) as page:
                    answers.append((page.status, page.read()))
            except urllib.error.HTTPError as exc:
                answers.append((exc.code, b""))

    thread = threading.Thread(target=visit)
    thread.start()
    redirected = listener.wait(10)
    thread.join(10)
    return redirected, answers


def test_the_listener_answers_the_redirect_on_its_path_only() -> None:
    with consent.RedirectListener("http://127.0.0.1:0/callback") as listener:
        port = urlsplit(listener.redirect_uri).port
        assert port and listener.redirect_uri == f"http://127.0.0.1:{port}/callback"
        redirected, answers = browse(listener, f"http://127.0.0.1:{port}/favicon.ico",
                                     f"{listener.redirect_uri}?code=c1&state=s1")
    assert redirected == f"http://127.0.0.1:{port}/callback?code=c1&state=s1"
    assert answers[0][0] == 404 and answers[1][0] == 200 and b"You can close this window" in answers[1][1]


def test_the_listener_waits_on_past_a_request_with_another_state() -> None:
    """Another local process calling the port first cannot end (or hijack) the consent."""
    with consent.RedirectListener("http://127.0.0.1:0/", state="s-right") as listener:
        redirected, answers = browse(listener, f"{listener.redirect_uri}?code=evil&state=s-wrong",
                                     f"{listener.redirect_uri}?code=c1&state=s-right")
    assert [status for status, _ in answers] == [400, 200]
    assert redirected.endswith("/?code=c1&state=s-right")


def test_the_listener_gives_up_and_refuses_addresses_it_cannot_listen_on() -> None:
    with consent.RedirectListener("http://127.0.0.1:0/") as listener:
        with pytest.raises(consent.ConsentError, match="no redirect arrived .* use --paste"):
            listener.wait(0.2)
    for uri in ("https://127.0.0.1:8765/", "http://helpdesk.lpse.go.id:8765/"):
        with pytest.raises(consent.ConsentError, match="not a loopback"):
            consent.RedirectListener(uri)
    with consent.RedirectListener("http://127.0.0.1:0/") as taken:
        with pytest.raises(consent.ConsentError, match="cannot listen on .* choose another --port"):
            consent.RedirectListener(taken.redirect_uri)


CONFIG = """
[helpdesk]
name = "Helpdesk LPSE Uji"
address = "helpdesk@lpse.test"
secret = "uji-secret-panjang-0123456789"
[imap]
host = "outlook.office365.com"
port = 993
username = "helpdesk@lpse.test"
auth = "xoauth2"
[smtp]
host = "smtp.office365.com"
port = 587
security = "starttls"
username = "helpdesk@lpse.test"
auth = "xoauth2"
[oauth2]
token_url = "https://login.microsoftonline.com/t/oauth2/v2.0/token"
client_id = "c"
client_secret = "s"
refresh_token_env = "MAILBOT_TEST_UNSET_REFRESH_TOKEN"
[staff]
addresses = ["staf@lpse.test"]
[escalation]
lkpp_address = "helpdesk@lkpp.test"
"""


def test_settings_without_a_refresh_token_load_only_for_the_consent(tmp_path: Path) -> None:
    path = tmp_path / "mailbot.toml"
    path.write_text(CONFIG)
    with pytest.raises(ConfigError, match="MAILBOT_TEST_UNSET_REFRESH_TOKEN"):
        load_settings(path)
    loaded = load_settings(path, consent=True)
    assert loaded.imap.oauth2 is not None and loaded.imap.oauth2.refresh_token_env == "MAILBOT_TEST_UNSET_REFRESH_TOKEN"
    path.write_text(path.read_text().replace('refresh_token_env = "MAILBOT_TEST_UNSET_REFRESH_TOKEN"\n', ""))
    with pytest.raises(ConfigError, match="either refresh_token or refresh_token_env is required"):
        load_settings(path)
    assert load_settings(path, consent=True).smtp.oauth2 is not None


def test_with_paste_the_operator_copies_the_redirect_and_gets_the_token_on_stdout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The browser runs on the operator's laptop, which cannot reach the server's loopback."""
    from mailbot import cli

    path = tmp_path / "mailbot.toml"
    path.write_text(CONFIG)
    started: list[consent.Consent] = []
    real_begin = consent.begin
    monkeypatch.setattr(consent, "begin", lambda *a, **kw: started.append(real_begin(*a, **kw)) or started[-1])
    endpoint = FakeTokenEndpoint(200, b'{"access_token": "at-9", "refresh_token": "rt-from-the-consent-42"}')
    monkeypatch.setattr(consent, "urllib_post", endpoint)

    class Operator:
        def readline(self) -> str:  # pastes what the browser's address bar shows
            return f"http://127.0.0.1:8765/?code=code-7&state={started[0].state}\n"

    monkeypatch.setattr("sys.stdin", Operator())
    code = cli.main(["--config", str(path), "oauth", "authorize", "--paste", "--redirect-uri",
                     "http://127.0.0.1:8765/"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == "rt-from-the-consent-42\n" and "rt-from-the-consent-42" not in err
    assert started[0].url in err and "MAILBOT_TEST_UNSET_REFRESH_TOKEN" in err
    assert endpoint.calls[0][1]["code"] == "code-7" and endpoint.calls[0][1]["redirect_uri"] == "http://127.0.0.1:8765/"


def test_authorize_refuses_a_mailbox_that_does_not_use_oauth2(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from mailbot import cli

    path = tmp_path / "mailbot.toml"
    path.write_text(CONFIG.replace('auth = "xoauth2"\n', 'password = "pw"\n'))
    assert cli.main(["--config", str(path), "oauth", "authorize", "--paste"]) == 2
    assert "does not use auth" in capsys.readouterr().err
