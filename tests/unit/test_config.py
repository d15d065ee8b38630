"""Config validation: every problem is one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot.config import ConfigError, load_settings, resolve_config_path

GOOD = """
[helpdesk]
name = "Helpdesk LPSE Kota Contoh"
address = "helpdesk@lpse.test"
timezone = "Asia/Jakarta"
[imap]
host = "127.0.0.1"
port = 11993
security = "ssl"
username = "helpdesk@lpse.test"
password = "secret"
[smtp]
host = "127.0.0.1"
port = 12587
security = "starttls"
username = "helpdesk@lpse.test"
password_env = "TEST_MAILBOT_SMTP_PW"
[staff]
addresses = ["staff1@lpse.test"]
[escalation]
lkpp_address = "helpdesk@lkpp.test"
[database]
url = "sqlite:///var/mailbot.db"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mailbot.toml"
    path.write_text(text)
    return path


def test_minimum_config_from_the_issue_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_MAILBOT_SMTP_PW", "from-env")
    s = load_settings(write(tmp_path, GOOD))
    assert s.smtp.password_value == "from-env"
    assert s.imap.processed_folder == "Processed"
    assert s.is_staff("STAFF1@lpse.test")


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (('port = 11993', 'port = "x"'), "imap.port"),
        (('security = "ssl"', 'security = "tls"'), "imap.security"),
        (('timezone = "Asia/Jakarta"', 'timezone = "Asia/Bandung"'), "helpdesk.timezone: unknown time zone"),
        (('lkpp_address = "helpdesk@lkpp.test"', 'lkpp_address = "lkpp"'), "escalation.lkpp_address"),
        (('addresses = ["staff1@lpse.test"]', 'addresses = []'), "staff.addresses"),
        (('[escalation]', '[escalasi]'), "escalation: required key is missing"),
        (('host = "127.0.0.1"\nport = 11993', 'hots = "127.0.0.1"\nport = 11993'), "imap.host"),
        (('password = "secret"', ''), "imap: Value error" if False else "imap"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: tuple[str, str],
                             needle: str) -> None:
    monkeypatch.setenv("TEST_MAILBOT_SMTP_PW", "x")
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, GOOD.replace(*change, 1)))
    message = str(err.value)
    assert "\n" not in message
    assert needle in message


def test_missing_env_secret_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_MAILBOT_SMTP_PW", raising=False)
    with pytest.raises(ConfigError, match="TEST_MAILBOT_SMTP_PW is not set"):
        load_settings(write(tmp_path, GOOD))


def test_not_toml_and_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[helpdesk\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
    monkeypatch.delenv("MAILBOT_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="MAILBOT_CONFIG"):
        resolve_config_path(None)
    monkeypatch.setenv("MAILBOT_CONFIG", "/x.toml")
    assert resolve_config_path(None) == Path("/x.toml")


@pytest.mark.parametrize(("url", "expected"), [
    ("sqlite:///var/mailbot.db", "sqlite:///var/mailbot.db"),
    ("postgresql+psycopg://mailbot:pw@db.lpse.test:5432/mailbot",
     "postgresql+psycopg://mailbot:pw@db.lpse.test:5432/mailbot"),
    ("postgresql://mailbot@db.lpse.test/mailbot", "postgresql+psycopg://mailbot@db.lpse.test/mailbot"),
    ("postgres://mailbot@db.lpse.test/mailbot", "postgresql+psycopg://mailbot@db.lpse.test/mailbot"),
])
def test_database_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, expected: str) -> None:
    monkeypatch.setenv("TEST_MAILBOT_SMTP_PW", "x")
    s = load_settings(write(tmp_path, GOOD.replace('url = "sqlite:///var/mailbot.db"', f'url = "{url}"')))
    assert s.database.url == expected


def test_a_database_url_that_is_no_url_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_MAILBOT_SMTP_PW", "x")
    with pytest.raises(ConfigError, match=r"database\.url: not a database URL"):
        load_settings(write(tmp_path, GOOD.replace('url = "sqlite:///var/mailbot.db"', 'url = "var/mailbot.db"')))
