"""The operator's first day: a wheel installed into a fresh virtualenv works from anywhere.

The wheel is built from a copy of this tree as a clean clone has it (tracked and new files,
nothing ignored: no ``build/``, no ``.venv``), installed without ``-e`` into a new venv, and run
from ``/`` with a config in a folder of its own: ``check-config`` and ``poll --once`` against the
local mail stack. The shipped templates, canned answers and priority table come from the wheel;
the config's relative paths (``sqlite:///var/mailbot.db``, ``paths.templates``) are relative to
the config file, not to ``/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest

from tests.e2e.conftest import Deployment
from tests.e2e.test_console_browser import free_port
from tests.support.botproc import wait_until
from tests.support.mailstack import MailStack

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    os.environ.get("MAILBOT_TEST_DB", "sqlite").startswith(("pg", "postgres")),
    reason="the install is tested once, on the SQLite pass (the wheel's database is SQLite)")

#: Files the wheel must carry besides the code (package data under mailbot/).
SHIPPED = [
    "mailbot/resources/templates/_macros.j2",
    "mailbot/resources/templates/ack.j2",
    "mailbot/resources/templates/answers/01-lupa-password.md",
    "mailbot/resources/config/priorities.toml",
    "mailbot/resources/config/mailbot.example.toml",
    "mailbot/storage/migrations/env.py",
    "mailbot/storage/migrations/script.py.mako",
    "mailbot/storage/migrations/versions/0001_initial_schema.py",
]


def clean_copy(target: Path) -> Path:
    """This tree as a fresh clone of it would be, with the changes not yet committed."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # a file deleted but not yet committed is not in a clone
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def quiet(command: list[str]) -> None:
    """Run a build or install step; its output only when it fails."""
    proc = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(command)} failed:\n{proc.stdout}{proc.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a fresh venv with the wheel installed (not editable)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know which files a clone has")
    work = tmp_path_factory.mktemp("install")
    source = clean_copy(work / "source")
    dist = work / "dist"
    quiet([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)])
    [wheel] = dist.glob("mailbot-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert [n for n in SHIPPED if n not in names] == []
    # One copy in the repository, mapped into the package at build time: nothing at the top level.
    assert not [n for n in names if n.startswith(("templates/", "config/", "tests/"))]
    venv.create(work / "venv", with_pip=True)
    bin_dir = work / "venv" / "bin"
    quiet([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)])
    return bin_dir


def run(bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A command of the installed venv from ``/``, with nothing of this repository in its way."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "MAILBOT_", "VIRTUAL_ENV"))}
    return subprocess.run([str(bin_dir / args[0]), *args[1:]], cwd="/", env=env, capture_output=True, text=True,
                          timeout=300)


def test_the_installed_wheel_runs_from_anywhere(installed: Path, stack: MailStack, tmp_path: Path) -> None:
    where = run(installed, "python", "-c", "import mailbot.settings.resources as r, mailbot; "
                "print(mailbot.__file__); print(r.builtin_templates()); print(r.default_priorities())")
    assert where.returncode == 0, where.stderr
    package, templates, priorities = where.stdout.split()
    site = str(installed.parent / "lib")
    assert package.startswith(site) and templates.startswith(site) and priorities.startswith(site), where.stdout

    # The config in a folder of its own, relative paths in it: the database and a template override.
    etc = tmp_path / "etc" / "mailbot"
    d = Deployment(stack, etc)
    etc.mkdir(parents=True)
    d.write_config(extra='[paths]\ntemplates = "my-templates"')
    text = d.config_path.read_text()
    start = text.index("[database]")
    end = text.index("\n", text.index("url =", start))
    d.config_path.write_text(text[:start] + '[database]\nurl = "sqlite:///var/mailbot.db"' + text[end:])
    (etc / "my-templates").mkdir()
    ack = (ROOT / "templates" / "ack.j2").read_text()
    marker = "{% block subject %}"
    assert marker in ack
    (etc / "my-templates" / "ack.j2").write_text(ack.replace(marker, marker + "[dari-wheel] ", 1))
    root_db = Path("/var/mailbot.db")
    existed = root_db.exists()

    check = run(installed, "mailbot", "--config", str(d.config_path), "check-config")
    assert check.returncode == 0, check.stdout + check.stderr
    for line in ("config: ok", f"database: ok ({etc}/var/mailbot.db does not exist yet", "imap: ok", "smtp: ok",
                 "priority table: ok", "canned answers: ok (10)", f"templates: ok (built-in, overrides from {etc}/my-templates)"):
        assert line in check.stdout, check.stdout

    d.new_mail("Tidak bisa login SPSE", "Selamat siang, saya tidak bisa login ke SPSE sejak pagi.\nTerima kasih.")
    d.wait_helpdesk_inbox(1)
    poll = run(installed, "mailbot", "poll", "--once", "--config", str(d.config_path))  # --config after it too
    assert poll.returncode == 0, poll.stdout + poll.stderr
    assert "opened=1" in poll.stdout, poll.stdout
    assert (etc / "var" / "mailbot.db").is_file()
    assert existed or not root_db.exists(), "a relative database landed in the working directory"
    assert d.wait_subject(d.user, "[dari-wheel]")  # the override, read from beside the config
    assert d.wait_subject(d.staff1, "Tiket baru")  # the shipped templates, from the wheel
    listed = run(installed, "mailbot", "--config", str(d.config_path), "tickets", "list")
    assert listed.returncode == 0 and "Tidak bisa login SPSE" in listed.stdout, listed.stdout + listed.stderr

    # The console from the wheel: its pages and stylesheet are package data too.
    port = free_port()
    with d.config_path.open("a") as cfg:
        cfg.write(f'\n[web]\nhost = "127.0.0.1"\nport = {port}\nbase_url = "http://127.0.0.1:{port}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "MAILBOT_", "VIRTUAL_ENV"))}
    web = subprocess.Popen([str(installed / "mailbot"), "--config", str(d.config_path), "web"], cwd="/", env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def page(path: str) -> tuple[int, str, str]:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read().decode()

        def up() -> bool:
            try:
                return page("/")[0] == 200
            except OSError:
                return False

        wait_until(up, 30, "mailbot web from the wheel answering")
        status, kind, body = page("/")
        assert status == 200 and 'type="email"' in body and kind.startswith("text/html")
        status, kind, css = page("/static/console.css")
        assert status == 200 and kind.startswith("text/css") and len(css) > 100
    finally:
        web.terminate()
        out, _ = web.communicate(timeout=30)
    assert web.returncode == 0, out
