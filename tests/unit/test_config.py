"""Config validation: every problem is one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot.settings.config import ConfigError
from mailbot.settings.loading import load_settings, resolve_config_path

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


@pytest.mark.parametrize(("extra", "expected"), [
    ("", 300.0),  # IDLE: a quiet mailbox is polled once per renewal
    ("use_idle = false", 60.0),
    ("poll_interval = 900", 900.0),
    ("idle_refresh = 30", 60.0),
])
def test_the_longest_quiet_of_a_healthy_watcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str,
                                               expected: float) -> None:
    """What ``mailbot status`` counts its staleness in (3 of these)."""
    monkeypatch.setenv("TEST_MAILBOT_SMTP_PW", "x")
    s = load_settings(write(tmp_path, GOOD.replace('security = "ssl"', f'security = "ssl"\n{extra}', 1)))
    assert s.imap.longest_quiet == expected


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (('port = 11993', 'port = "x"'), "imap.port"),
        (('security = "ssl"', 'security = "tls"'), "imap.security"),
        (('timezone = "Asia/Jakarta"', 'timezone = "Asia/Bandung"'), "helpdesk.timezone: unknown time zone"),
        (('lkpp_address = "helpdesk@lkpp.test"', 'lkpp_address = "lkpp"'), "escalation.lkpp_address"),
        (('addresses = ["staff1@lpse.test"]', 'addresses = []'), "staff.addresses"),
        (('[escalation]', '[escalasi]'), "unknown section escalasi (did you mean escalation?) (and 1 more)"),
        (('host = "127.0.0.1"\nport = 11993', 'hots = "127.0.0.1"\nport = 11993'),
         "unknown key imap.hots (did you mean imap.host?)"),
        (('password = "secret"', ''), "imap: Value error" if False else "imap"),
        (('security = "ssl"', 'security = "ssl"\nidle_refresh = 1800'), "imap.idle_refresh"),  # RFC 2177: 29 min at most
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
    with pytest.raises(ConfigError, match="TEST_MAILBOT_SMTP_PW is not set") as err:
        load_settings(write(tmp_path, GOOD))
    # An operator typing `mailbot tickets list` in a root shell learns where the service gets it.
    assert "environment file" in str(err.value) and "\n" not in str(err.value)


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
    ("sqlite:////srv/mailbot/mailbot.db", "sqlite:////srv/mailbot/mailbot.db"),
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


# ---- several helpdesks in one deployment ([[helpdesks]]) -------------------------------------

MULTI = GOOD.replace('password_env = "TEST_MAILBOT_SMTP_PW"', 'password = "secret"') + """
[sla]
work_start = "07:30"
[[helpdesks]]
key = "kota"
[[helpdesks]]
key = "kab"
helpdesk = { name = "Helpdesk LPSE Kabupaten Contoh", address = "lpse@kab.test", timezone = "Asia/Makassar" }
imap = { username = "lpse@kab.test", port = 11143, security = "none" }
smtp = { username = "lpse@kab.test" }
staff = { addresses = ["op@kab.test"] }
paths = { templates = "kab-templates" }
sla = { work_end = "15:00" }
"""


def test_a_file_without_helpdesks_is_one_helpdesk_named_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_MAILBOT_SMTP_PW", "x")
    s = load_settings(write(tmp_path, GOOD))
    assert s.helpdesk_key == "default"
    assert s.per_helpdesk() == (s,)


def test_helpdesks_inherit_the_top_level_and_override_their_sections(tmp_path: Path) -> None:
    first = load_settings(write(tmp_path, MULTI))
    kota, kab = first.per_helpdesk()
    assert first is kota and (kota.helpdesk_key, kab.helpdesk_key) == ("kota", "kab")
    # Inherited unchanged: the top-level sections are the defaults.
    assert kota.helpdesk.address == "helpdesk@lpse.test" and kota.imap.port == 11993
    assert kota.staff.addresses == ["staff1@lpse.test"] and kota.paths.templates is None
    # Overridden key by key (deep merge): the rest of the section is still the top-level one.
    assert kab.helpdesk.name == "Helpdesk LPSE Kabupaten Contoh" and kab.helpdesk.timezone == "Asia/Makassar"
    assert kab.helpdesk.ticket_prefix == "TTS"
    assert (kab.imap.username, kab.imap.port, kab.imap.security, kab.imap.host) == ("lpse@kab.test", 11143, "none",
                                                                                     "127.0.0.1")
    assert kab.smtp.port == 12587 and kab.smtp.password_value == "secret"
    assert kab.staff.addresses == ["op@kab.test"]  # a list replaces, it does not add up
    assert kab.paths.templates == tmp_path / "kab-templates"  # relative to the file, like the top level
    assert (kab.sla.work_start.hour, kab.sla.work_end.hour) == (7, 15) and kota.sla.work_end.hour == 16
    # Deployment-wide sections are the same object for every helpdesk.
    assert kab.escalation.lkpp_address == kota.escalation.lkpp_address == "helpdesk@lkpp.test"
    assert kab.database == kota.database
    assert kab.for_helpdesk("kota") is kota and kab.per_helpdesk() == (kota, kab)
    with pytest.raises(ConfigError, match="no helpdesk 'x' \\(helpdesks: kota, kab\\)"):
        kab.for_helpdesk("x")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('key = "kab"', 'key = "kota"'), "helpdesks[1].key: 'kota' is already the key of helpdesks[0]"),
        (('address = "lpse@kab.test", ', ''),
         "helpdesks[1].helpdesk.address: 'helpdesk@lpse.test' is already the address of helpdesks[0]"),
        (('port = 11143', 'port = "x"'), "helpdesks[1].imap.port: Input should be a valid integer"),
        (('imap = { username = "lpse@kab.test", port = 11143, security = "none" }', ''),
         "helpdesks[1].imap.username: mailbox 'helpdesk@lpse.test@127.0.0.1:11993' is already the mailbox of "
         "helpdesks[0]"),
        (('key = "kab"', 'key = "Kab Kota"'), "helpdesks[1].key: must be a short slug"),
        (('key = "kab"', 'key = "kab"\ndatabase = { url = "sqlite:///x.db" }'), "helpdesks[1].database: belongs to the whole deployment"),
        (('key = "kota"\n', ''), "helpdesks[0].key: required key is missing"),
        (('timezone = "Asia/Makassar"', 'timezone = "Asia/Bandung"'),
         "helpdesks[1].helpdesk.timezone: unknown time zone"),
    ],
)
def test_helpdesk_errors_are_one_line_naming_the_entry(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    assert change[0] in MULTI
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, MULTI.replace(change[0], change[1], 1)))
    line = str(err.value)
    assert "\n" not in line and expected in line, line


def test_a_missing_env_secret_of_one_helpdesk_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAB_SMTP_PW", raising=False)
    text = MULTI.replace('smtp = { username = "lpse@kab.test" }',
                         'smtp = { username = "lpse@kab.test", password = "", password_env = "KAB_SMTP_PW" }')
    with pytest.raises(ConfigError, match=r"helpdesks\[1\]: smtp.password_env: environment variable KAB_SMTP_PW"):
        load_settings(write(tmp_path, text))


def test_the_commented_helpdesks_example_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """config/mailbot.example.toml's [[helpdesks]] block, uncommented, is a valid deployment of two."""
    from mailbot.settings.config import PROJECT_ROOT

    for name in ("MAILBOT_KAB_IMAP_PASSWORD", "MAILBOT_KAB_SMTP_PASSWORD"):
        monkeypatch.setenv(name, "x")
    text = (PROJECT_ROOT / "config" / "mailbot.example.toml").read_text()
    head, _, block = text.partition("# [[helpdesks]]")
    assert block
    block = "\n".join(line.removeprefix("# ") if line.startswith("# ") else line
                      for line in ("[[helpdesks]]" + block).splitlines())
    head = "\n".join(line for line in head.splitlines() if not line.startswith("ca_file"))
    default, kab = load_settings(write(tmp_path, head + "\n" + block)).per_helpdesk()
    assert (default.helpdesk_key, kab.helpdesk_key) == ("default", "kab")
    assert kab.imap.host == default.imap.host and kab.imap.username == "lpse@kab.test"
    assert kab.helpdesk.timezone == "Asia/Makassar" and kab.staff.coordinator == "kepala@kab.test"
    assert kab.paths.templates == tmp_path / "kab-templates"
