"""Issue 9, OAuth2 mailboxes: ``mailbot run`` logs in with XOAUTH2 to the real Dovecot (IMAP) and
Postfix (SMTP AUTH through Dovecot's SASL), which check every access token with the tests'
token server (``tests/support/tokenserver.py``, Dovecot's ``passdb { driver = oauth2 }``).

* login and polling with XOAUTH2 on both protocols; access tokens that live 4 s are renewed
  with the refresh-token grant BEFORE they expire: the server is never shown an expired token;
* the refresh token is revoked (consent withdrawn): one clear error line naming the mailbox,
  ``mailbot status`` unhealthy naming it, exactly one mail to the coordinator (sent over SMTP,
  which still works), and the process keeps running and retrying;
* a provider that rotates refresh tokens (each grant retires the token presented): the newest
  one is kept in the database, so a restarted process logs in with it, not with the configured
  one the provider no longer accepts;
* no password, client secret, refresh token or access token is ever in the log (JSON lines).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from mailbot.mail import oauth
from mailbot.storage.models import OAuthToken, Outbox, Ticket
from tests.e2e.conftest import Deployment
from tests.support.botproc import BotProcess, set_keys, wait_until
from tests.support.mailstack import MailStack, fetch_all
from tests.support.tcpproxy import TcpProxy
from tests.support.tokenserver import TokenServer

SUBJECT = "Jadwal pelatihan SPSE"
QUESTION = "Selamat pagi,\nKapan jadwal pelatihan SPSE untuk penyedia bulan depan?\nTerima kasih."
CLIENT_ID = "mailbot-test"


@pytest.fixture
def tokens(stack: MailStack) -> Iterator[TokenServer]:
    with TokenServer(port=stack.oauth_port) as server:
        yield server
    oauth.reset()  # in-process commands (status) must not keep another test's tokens


def tickets(d: Deployment) -> int:
    with d.sessions()() as session:
        return int(session.scalar(select(func.count()).select_from(Ticket)) or 0)


def use_oauth(d: Deployment, tokens: TokenServer, monkeypatch: pytest.MonkeyPatch, *, servers: tuple[str, ...],
              expires_in: float = 3600, rotate: bool = False) -> tuple[str, str]:
    """XOAUTH2 for ``servers`` (a shared [oauth2] section); secrets in the environment. -> (refresh token, secret)"""
    secret = "cs-" + time.strftime("%H%M%S") + "-Qx7vZp2"
    refresh = tokens.issue_refresh_token(d.helpdesk, expires_in=expires_in, rotate=rotate)
    tokens.add_client(CLIENT_ID, secret)
    suffix = re.sub(r"\W", "_", d.helpdesk).upper()
    monkeypatch.setenv(f"OAUTH_SECRET_{suffix}", secret)
    monkeypatch.setenv(f"OAUTH_REFRESH_{suffix}", refresh)
    for name in servers:
        set_keys(d.config_path, name, auth="xoauth2")
    set_keys(d.config_path, "oauth2", token_url=tokens.token_url, client_id=CLIENT_ID,
             client_secret_env=f"OAUTH_SECRET_{suffix}", refresh_token_env=f"OAUTH_REFRESH_{suffix}",
             scope="https://outlook.office.com/IMAP.AccessAsUser.All offline_access")
    return refresh, secret


def prepare(d: Deployment) -> None:
    set_keys(d.config_path, "loops", max_auto_mails_per_hour=1000)
    set_keys(d.config_path, "logging", format="json", level="DEBUG")
    assert d.cli("db", "upgrade")[0] == 0


def json_lines(bot: BotProcess) -> list[dict[str, object]]:
    entries = []
    for line in bot.log().splitlines():
        entries.append(json.loads(line))  # every line of the log is one JSON object
    return entries


def assert_no_secrets(log: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in log, "a secret is in the log"
    # The mailbox password of the stack ("secret") as a word of its own (not "client_secret").
    assert not re.search(r"(?<![\w-])secret(?![\w-])", log)


def test_xoauth2_login_polling_and_refresh_before_expiry(
        deployment: Deployment, stack: MailStack, tokens: TokenServer, bots: list[BotProcess],
        monkeypatch: pytest.MonkeyPatch) -> None:
    d = deployment
    with TcpProxy(stack.imaps_port) as proxy:
        d.write_config(imap_port=str(proxy.port))
        refresh, secret = use_oauth(d, tokens, monkeypatch, servers=("imap", "smtp"), expires_in=4)
        set_keys(d.config_path, "imap", auth="xoauth2", poll_interval=30, timeout=10)
        prepare(d)
        bot = BotProcess(d.config_path, d.tmp / "bot.log").start()
        bots.append(bot)

        d.new_mail(SUBJECT, QUESTION)
        wait_until(lambda: tickets(d) == 1, 30, "the first ticket (IMAP with XOAUTH2)")
        d.wait_subject(d.user, "[TTS-")  # the acknowledgment went out over SMTP with XOAUTH2
        logins_before = len(tokens.presented(d.helpdesk))

        # The access token expires; the next IMAP login (after a cut) and SMTP login need a new one.
        time.sleep(5)
        proxy.cut()
        bot.wait_log(r"imap connection for .* restored", timeout=30)
        d.new_mail(SUBJECT + " (2)", QUESTION)
        wait_until(lambda: tickets(d) == 2, 30, "the mail after the token expired")
        d.wait(d.user, 2, lambda m: "[TTS-" in m.subject)
        time.sleep(5)  # and once more, for SMTP alone
        d.new_mail(SUBJECT + " (3)", QUESTION)
        wait_until(lambda: tickets(d) == 3, 30, "the third mail")
        d.wait(d.user, 3, lambda m: "[TTS-" in m.subject)

        presented = tokens.presented(d.helpdesk)
        assert len(presented) > logins_before >= 2  # IMAP and SMTP logins, all checked by Dovecot
        assert [p.reason for p in presented] == ["ok"] * len(presented)  # never an expired or unknown token
        assert len(tokens.granted(refresh)) >= 3  # refreshed, with the refresh-token grant
        assert all(g.client_id == CLIENT_ID and "IMAP.AccessAsUser.All" in g.scope for g in tokens.granted(refresh))
        assert tokens.refused(refresh) == []

        # status with XOAUTH2: both logins work, the poll is recent.
        code, out, err = d.cli("status", "--json")
        report = json.loads(out)
        assert code == 0, out + err
        assert [m["reachable"] for m in report["mailboxes"]] == [True, True]
        assert report["mailboxes"][0]["run_expected"] and report["mailboxes"][0]["last_ok_at"]

        assert bot.stop() == 0
    log = bot.log()
    entries = json_lines(bot)
    assert [e["msg"] for e in entries if e["level"] == "ERROR"] == [
        e["msg"] for e in entries if e["level"] == "ERROR" and "connection lost" in str(e["msg"])]
    assert any("oauth2 access token refreshed" in str(e["msg"]) for e in entries)  # DEBUG lines are there
    assert_no_secrets(log, refresh, secret, *tokens.access_tokens(refresh))
    assert "Traceback" not in log
    assert fetch_all(stack, d.helpdesk) == []


def test_revoked_refresh_token_is_reported_once_and_the_service_goes_on(
        deployment: Deployment, stack: MailStack, tokens: TokenServer, bots: list[BotProcess],
        monkeypatch: pytest.MonkeyPatch) -> None:
    d = deployment
    coordinator = d.staff2
    with TcpProxy(stack.imaps_port) as proxy:
        d.write_config(imap_port=str(proxy.port), staff_extra=f'coordinator = "{coordinator}"')
        # IMAP with XOAUTH2; SMTP with its password: the mailbox that still works after the revocation.
        refresh, secret = use_oauth(d, tokens, monkeypatch, servers=("imap",))
        set_keys(d.config_path, "imap", auth="xoauth2", poll_interval=30, timeout=10)
        prepare(d)
        bot = BotProcess(d.config_path, d.tmp / "bot.log").start()
        bots.append(bot)
        d.new_mail(SUBJECT, QUESTION)
        wait_until(lambda: tickets(d) == 1 and not fetch_all(stack, d.helpdesk), 30,
                   "the first ticket (its mail moved out of the inbox)")

        tokens.revoke(refresh)  # consent withdrawn: the refresh token and its access tokens stop working
        proxy.cut()  # the next login needs the server to accept the token again
        d.new_mail(SUBJECT + " (2)", QUESTION)  # waits in the mailbox, not lost

        [line] = bot.wait_log(r'"level": "ERROR".*OAuth2 login impossible', timeout=40)
        assert d.helpdesk in line and "invalid_grant" in line
        [notice] = d.wait_subject(coordinator, "login OAuth2")
        assert d.helpdesk in notice.subject and "IMAP" in notice.subject
        assert "invalid_grant" in notice.text and "refresh token baru" in notice.text
        assert notice.headers.get("auto-submitted", ("",))[0].startswith("auto-generated")

        code, out, err = d.cli("status")
        assert code == 1, out + err
        assert "UNHEALTHY" in out and f"imap mailbox {d.helpdesk}" in out and "OAuth2" in out
        code, out, err = d.cli("status", "--json", "--offline")
        report = json.loads(out)
        assert code == 1 and not report["healthy"]
        assert report["mailboxes"][0]["oauth_failing_since"] and "invalid_grant" in report["mailboxes"][0]["oauth_error"]
        assert any(d.helpdesk in p and "OAuth2" in p for p in report["problems"])

        # The service keeps running and retrying (backoff), without another line or another mail.
        refusals = len(tokens.refused(refresh))
        wait_until(lambda: len(bot.lines(r"OAuth2 login impossible")) >= 2 or len(proxy.accepted) >= 5, 40,
                   "more reconnection attempts")
        time.sleep(3)
        assert bot.alive()
        assert len(bot.lines(r'"level": "ERROR".*OAuth2 login impossible')) == 1
        assert len(tokens.refused(refresh)) == refusals  # the endpoint is asked again at most once a minute
        assert len([m for m in fetch_all(stack, coordinator) if "login OAuth2" in m.subject]) == 1
        assert tickets(d) == 1 and len(fetch_all(stack, d.helpdesk)) == 1  # mail 2 waits in the inbox
        assert bot.stop() == 0
    log = bot.log()
    json_lines(bot)
    assert_no_secrets(log, refresh, secret, *tokens.access_tokens(refresh))
    assert "Traceback" not in log


def test_revoked_smtp_token_defers_replies_and_is_reported_once(
        deployment: Deployment, stack: MailStack, tokens: TokenServer, bots: list[BotProcess],
        monkeypatch: pytest.MonkeyPatch) -> None:
    d = deployment
    coordinator = d.staff2
    d.write_config(staff_extra=f'coordinator = "{coordinator}"')
    # SMTP alone with XOAUTH2, in its own [smtp.oauth2] section; IMAP with its password.
    refresh, secret = use_oauth(d, tokens, monkeypatch, servers=("smtp",))
    text = d.config_path.read_text().replace("[oauth2]", "[smtp.oauth2]")
    d.config_path.write_text(text)
    set_keys(d.config_path, "imap", poll_interval=30, timeout=10)
    # A login per flush: a connection kept from the first reply (smtp.keepalive_seconds) is a
    # session the server already accepted, and would send the second reply without a new login.
    set_keys(d.config_path, "smtp", keepalive_seconds=0)
    prepare(d)
    bot = BotProcess(d.config_path, d.tmp / "bot.log").start()
    bots.append(bot)
    d.new_mail(SUBJECT, QUESTION)
    d.wait_subject(d.user, "[TTS-")  # sent with XOAUTH2

    tokens.revoke(refresh)
    d.new_mail(SUBJECT + " (2)", QUESTION)
    wait_until(lambda: tickets(d) == 2, 30, "the second mail (IMAP still works)")
    [line] = bot.wait_log(r'"level": "ERROR".*smtp mailbox .*OAuth2 login impossible', timeout=60)
    assert d.helpdesk in line and "invalid_grant" in line and "replies wait in the outbox" in line

    code, out, _ = d.cli("status", "--offline")
    assert code == 1 and f"smtp mailbox {d.helpdesk}" in out and "OAuth2 token refresh refused" in out
    with d.sessions()() as session:
        pending = session.scalars(select(Outbox).where(Outbox.status == "pending")).all()
    assert [r.recipients for r in pending].count([coordinator]) == 1  # the notice, waiting for SMTP
    assert any(d.user in r.recipients for r in pending)  # the reply waits too, not lost
    time.sleep(4)  # more flush attempts (backoff of 1 s doubling), still one line
    assert len(bot.lines(r'"level": "ERROR".*OAuth2 login impossible')) == 1
    assert bot.alive()
    assert bot.stop() == 0
    assert_no_secrets(bot.log(), refresh, secret, *tokens.access_tokens(refresh))


def poll_process(d: Deployment) -> subprocess.CompletedProcess[str]:
    """``mailbot poll --once`` in a process of its own: nothing is remembered from the last one."""
    return subprocess.run([sys.executable, "-m", "mailbot.cli", "--config", str(d.config_path), "poll", "--once"],
                          capture_output=True, text=True, timeout=120)


def test_a_rotated_refresh_token_is_kept_across_restarts(
        deployment: Deployment, stack: MailStack, tokens: TokenServer, monkeypatch: pytest.MonkeyPatch) -> None:
    d = deployment
    configured, secret = use_oauth(d, tokens, monkeypatch, servers=("imap", "smtp"), rotate=True)
    prepare(d)
    for n in range(1, 4):
        d.new_mail(f"{SUBJECT} ({n})", QUESTION)
        d.wait_helpdesk_inbox(1)
        proc = poll_process(d)  # a restart each time
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert tickets(d) == n
        d.wait_subject(d.user, f"({n})")  # the acknowledgment went out over SMTP with XOAUTH2
    # Each process presented the token the previous grant handed out; the configured one only once.
    presented = [g.refresh_token for g in tokens.grants]
    assert presented[0] == configured and presented.count(configured) == 1
    assert not any(g.error for g in tokens.grants), [g.error for g in tokens.grants]
    for earlier, later in zip(presented, presented[1:]):
        assert tokens.successors[earlier] == later
    with d.sessions()() as session:
        [stored] = session.scalars(select(OAuthToken)).all()
    assert stored.refresh_token == tokens.successors[presented[-1]]  # the newest, ready for the next start
    assert_no_secrets(proc.stdout + proc.stderr, configured, secret, stored.refresh_token)


def authorize_process(d: Deployment) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "mailbot.cli", "--config", str(d.config_path), "oauth", "authorize",
                             "--timeout", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def consent_address(proc: subprocess.Popen[str]) -> str:
    """The address the command asks the operator to open (read from its stderr)."""
    assert proc.stderr is not None
    for line in proc.stderr:
        if "/authorize?" in line:
            return line.strip()
    raise AssertionError("the command printed no consent address")


def use_consent(d: Deployment, tokens: TokenServer, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """XOAUTH2 on both servers with no refresh token yet. -> (client secret, refresh token variable)"""
    secret = "cs-" + time.strftime("%H%M%S") + "-Kd82Lq"
    tokens.add_client(CLIENT_ID, secret)
    suffix = re.sub(r"\W", "_", d.helpdesk).upper()
    monkeypatch.setenv(f"OAUTH_SECRET_{suffix}", secret)
    monkeypatch.delenv(f"OAUTH_REFRESH_{suffix}", raising=False)
    for name in ("imap", "smtp"):
        set_keys(d.config_path, name, auth="xoauth2")
    set_keys(d.config_path, "oauth2", token_url=tokens.token_url, authorize_url=tokens.authorize_url,
             client_id=CLIENT_ID, client_secret_env=f"OAUTH_SECRET_{suffix}",
             refresh_token_env=f"OAUTH_REFRESH_{suffix}",
             scope="https://outlook.office.com/IMAP.AccessAsUser.All offline_access")
    return secret, f"OAUTH_REFRESH_{suffix}"


def test_the_consent_in_a_browser_yields_a_refresh_token_that_polls_and_sends(
        deployment: Deployment, stack: MailStack, tokens: TokenServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """``mailbot oauth authorize``: the first refresh token, from the consent, without other tools."""
    import urllib.request

    d = deployment
    secret, variable = use_consent(d, tokens, monkeypatch)
    code, _, err = d.cli("check-config")
    assert code == 2 and variable in err  # the service cannot start without the token

    tokens.consent_as(d.helpdesk)
    proc = authorize_process(d)
    address = consent_address(proc)
    assert f"login_hint={d.helpdesk.replace('@', '%40')}" in address and "code_challenge_method=S256" in address
    # The operator's browser: the provider's page redirects it to the command's loopback listener.
    with urllib.request.urlopen(address, timeout=30) as page:
        assert page.status == 200 and b"received the answer of the consent" in page.read()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    refresh = out.strip()
    assert tokens.consents == [(d.helpdesk.lower(), refresh)]
    assert variable in err and refresh not in err  # the token only on stdout, where to put it on stderr
    assert_no_secrets(err, secret)

    monkeypatch.setenv(variable, refresh)
    prepare(d)
    d.new_mail(SUBJECT, QUESTION)
    d.wait_helpdesk_inbox(1)
    polled = poll_process(d)  # logs in to Dovecot, and sends through Postfix, with that token
    assert polled.returncode == 0, polled.stdout + polled.stderr
    assert tickets(d) == 1
    d.wait_subject(d.user, SUBJECT)  # the acknowledgment, sent with XOAUTH2
    assert [g.refresh_token for g in tokens.granted(refresh)]  # access tokens came from the new grant
    assert any(i.active for i in tokens.presented(d.helpdesk))


def test_a_declined_consent_gives_no_token_and_says_why(
        deployment: Deployment, stack: MailStack, tokens: TokenServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.request

    d = deployment
    use_consent(d, tokens, monkeypatch)
    tokens.deny_consent()
    proc = authorize_process(d)
    with urllib.request.urlopen(consent_address(proc), timeout=30) as page:
        assert page.status == 200
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and out == ""
    assert "consent failed: the consent was declined at the provider" in err
    assert tokens.consents == []
