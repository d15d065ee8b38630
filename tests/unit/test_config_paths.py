"""Paths in the config are relative to the config file (SQLite URLs too); the shipped files are found
without a path setting; check-config names every configured file or folder that is missing; typo'd
sections are named as such."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailbot.cli.config_check import check_database, path_problems, sqlite_file
from mailbot.mail.render import BUILTIN_TEMPLATES
from mailbot.settings import resources
from mailbot.settings.config import ConfigError
from mailbot.settings.loading import load_settings, sqlite_url_beside

BASE = """
[helpdesk]
name = "Helpdesk LPSE Kota Contoh"
address = "helpdesk@lpse.test"
[imap]
host = "127.0.0.1"
port = 11993
username = "helpdesk@lpse.test"
password = "secret"
[smtp]
host = "127.0.0.1"
port = 12587
username = "helpdesk@lpse.test"
password = "secret"
[staff]
addresses = ["staff1@lpse.test"]
[escalation]
lkpp_address = "helpdesk@lkpp.test"
"""


def config(folder: Path, extra: str = "", base: str = BASE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mailbot.toml"
    path.write_text(base + extra)
    return path


def test_a_relative_sqlite_url_is_beside_the_config_wherever_the_command_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = config(tmp_path / "etc", '[database]\nurl = "sqlite:///var/mailbot.db"\n')
    for cwd in (tmp_path, Path("/")):
        monkeypatch.chdir(cwd)
        settings = load_settings(Path(os.path.relpath(path, cwd)))
        assert settings.database.url == f"sqlite:///{tmp_path}/etc/var/mailbot.db"


def test_the_default_database_is_beside_the_config_too(tmp_path: Path) -> None:
    settings = load_settings(config(tmp_path))
    assert settings.database.url == f"sqlite:///{tmp_path}/var/mailbot.db"


@pytest.mark.parametrize("url", [
    "sqlite:////var/lib/mailbot/mailbot.db",  # absolute stays absolute
    "sqlite:///:memory:",
    "sqlite://",
    "sqlite:///file:mailbot.db?mode=ro&uri=true",
    "postgresql+psycopg://mailbot@db.lpse.test/mailbot",
])
def test_absolute_and_other_urls_are_unchanged(url: str) -> None:
    assert sqlite_url_beside(url, Path("/etc/mailbot")) == url


def test_a_relative_sqlite_url_keeps_its_driver_and_query() -> None:
    assert (sqlite_url_beside("sqlite+pysqlite:///state/m.db?timeout=5", Path("/etc/mailbot"))
            == "sqlite+pysqlite:////etc/mailbot/state/m.db?timeout=5")


def test_every_helpdesk_shares_the_resolved_database_and_its_relative_paths(tmp_path: Path) -> None:
    extra = ('[database]\nurl = "sqlite:///data/m.db"\n[[helpdesks]]\nkey = "kota"\n[[helpdesks]]\nkey = "kab"\n'
             'helpdesk = { name = "Kab", address = "lpse@kab.test" }\nimap = { username = "lpse@kab.test" }\n'
             'paths = { templates = "kab-templates", priorities = "kab.toml" }\n')
    settings = load_settings(config(tmp_path, extra))
    kota, kab = settings.per_helpdesk()
    assert kota.database.url == kab.database.url == f"sqlite:///{tmp_path}/data/m.db"
    assert kab.paths.templates == tmp_path / "kab-templates"
    assert kab.paths.priorities == tmp_path / "kab.toml"
    assert kota.paths.templates is None and kota.paths.priorities == resources.default_priorities()


def test_a_deployment_section_in_a_helpdesk_entry_is_named(tmp_path: Path) -> None:
    extra = '[[helpdesks]]\nkey = "kota"\n[helpdesks.database]\nurl = "sqlite:///x.db"\n'
    with pytest.raises(ConfigError, match=r"helpdesks\[0\]\.database: belongs to the whole deployment"):
        load_settings(config(tmp_path, extra))


@pytest.mark.parametrize(("change", "line"), [
    (("[smtp]", "[smpt]"), "unknown section smpt (did you mean smtp?) (and 1 more)"),
    (("[staff]", "[staf]"), "unknown section staf (did you mean staff?) (and 1 more)"),
    (("", "[sla.standart]\nanalysis = { days = 1 }\n"), "unknown section sla.standart (did you mean sla.standards?)"),
    (("", "[databse]\nurl = 'sqlite:///x.db'\n"), "unknown section databse (did you mean database?)"),
    (("port = 12587", "prot = 12587"), "unknown key smtp.prot (did you mean smtp.port?) (and 1 more)"),
    (("", "[frobnicate]\nx = 1\n"), "unknown section frobnicate"),
])
def test_an_unknown_section_or_key_is_named_as_such(tmp_path: Path, change: tuple[str, str], line: str) -> None:
    text = BASE.replace(*change, 1) if change[0] else BASE + change[1]
    with pytest.raises(ConfigError) as err:
        load_settings(config(tmp_path, base=text))
    assert str(err.value) == f"config error in {tmp_path / 'mailbot.toml'}: {line}"


def test_the_shipped_files_are_found_without_a_path_setting() -> None:
    # From the source tree: the top-level folders, the one copy that is edited.
    assert resources.resource_dir("templates") == resources.SOURCE_ROOT / "templates"
    assert BUILTIN_TEMPLATES == resources.builtin_templates()
    assert (BUILTIN_TEMPLATES / "_macros.j2").is_file() and (BUILTIN_TEMPLATES / "answers").is_dir()
    assert resources.default_priorities().is_file() and resources.example_config().is_file()
    with pytest.raises(ValueError, match="no shipped folder"):
        resources.resource_dir("tests")


def test_an_installed_copy_comes_before_the_source_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A wheel puts templates/ and config/ under mailbot/resources/, beside the settings package.
    fake = tmp_path / "site-packages" / "mailbot"
    (fake / "settings").mkdir(parents=True)
    (fake / "resources" / "templates").mkdir(parents=True)
    monkeypatch.setattr(resources.resources, "files", lambda _package: fake / "settings")
    assert resources.resource_dir("templates") == fake / "resources" / "templates"
    assert resources.resource_dir("config") == resources.SOURCE_ROOT / "config"  # not in that copy


def test_check_config_names_each_missing_file_and_folder(tmp_path: Path) -> None:
    extra = '[paths]\ntemplates = "my-templates"\npriorities = "my-priorities.toml"\n'
    settings = load_settings(config(tmp_path, extra))
    assert path_problems(settings) == [
        f"paths.templates: FAILED folder {tmp_path / 'my-templates'} does not exist",
        f"paths.priorities: FAILED file {tmp_path / 'my-priorities.toml'} does not exist",
    ]
    (tmp_path / "my-templates").mkdir()
    (tmp_path / "my-priorities.toml").write_text("")
    assert path_problems(settings) == []
    assert path_problems(load_settings(config(tmp_path))) == []  # the shipped table


def test_check_config_on_the_database_file(tmp_path: Path) -> None:
    db = tmp_path / "var" / "mailbot.db"
    assert sqlite_file(f"sqlite:///{db}") == db
    assert sqlite_file("sqlite:///:memory:") is None and sqlite_file("postgresql+psycopg://u:pw@h/d") is None
    assert check_database(f"sqlite:///{db}") == (True, f"database: ok ({db} does not exist yet: made at the first start)")
    db.parent.mkdir()
    db.write_bytes(b"")
    assert check_database(f"sqlite:///{db}") == (True, f"database: ok ({db})")
    ok, line = check_database("postgresql+psycopg://mailbot:hunter2@db.lpse.test/mailbot")
    assert ok and "hunter2" not in line and "db.lpse.test/mailbot" in line


def test_check_config_fails_on_a_database_folder_it_cannot_make(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the folder should be")
    ok, line = check_database(f"sqlite:///{blocker}/var/mailbot.db")
    assert not ok and line == (f"database: FAILED {blocker}/var/mailbot.db does not exist and cannot be made: "
                               f"{blocker} is not a folder this user can write to")
