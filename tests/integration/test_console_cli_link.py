"""``mailbot web --link ADDRESS``: an operator prints a one-time sign-in link (the first sign-in, or when
mail does not arrive). The link is the same as a mailed one: single use, 15 minutes, only its digest
stored, audited; an address without console access gets one line and exit 1, no link.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from sqlalchemy import select
from starlette.testclient import TestClient

from mailbot import cli
from mailbot.storage.models import WebAudit, WebSignInLink
from mailbot.web.server import build_asgi
from tests.integration.test_console import LKPP, STAFF, csrf_of, deployment


def run(config: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["--config", str(config), *args])
    return code, out.getvalue(), err.getvalue()


def test_a_printed_link_signs_the_staff_member_in_once(tmp_path: Path, db_url: str) -> None:
    apps = deployment(tmp_path, db_url)
    code, out, err = run(tmp_path / "mailbot.toml", "web", "--link", STAFF.upper())
    assert code == 0 and "single use, valid 15 minutes" in err and "(staff)" in err
    link = out.strip()
    assert link.startswith("http://testserver/masuk/") and len(out.splitlines()) == 1
    token = link.rsplit("/", 1)[1]
    with apps[0].factory() as session:
        [row] = session.scalars(select(WebSignInLink)).all()
        assert row.address == STAFF and token not in row.token_hash  # only its digest is kept
        assert [a.kind for a in session.scalars(select(WebAudit))] == ["link_issued"]
    client = TestClient(build_asgi(apps), follow_redirects=False)
    path = link.removeprefix("http://testserver")
    confirm = client.get(path)
    assert confirm.status_code == 200
    done = client.post(path, data={"csrf": csrf_of(confirm.text)})
    assert done.status_code == 303 and done.headers["location"] == "/antrian"
    assert client.get("/antrian").status_code == 200
    again = TestClient(build_asgi(apps), follow_redirects=False)
    reused = again.get(path)
    assert reused.status_code == 400 and "tidak berlaku" in reused.text  # used: nobody else signs in with it
    assert again.get("/antrian").status_code == 303


def test_lkpp_gets_a_link_and_an_unknown_address_gets_none(tmp_path: Path, db_url: str) -> None:
    apps = deployment(tmp_path, db_url)
    code, _, err = run(tmp_path / "mailbot.toml", "web", "--link", LKPP)
    assert code == 0 and "(lkpp)" in err
    code, out, err = run(tmp_path / "mailbot.toml", "web", "--link", "orang.lain@vendor.test")
    assert code == 1 and out == "" and "no console access" in err and len(err.splitlines()) == 1
    assert "escalation.lkpp_domains" in err  # the key that lets an LKPP officer's own address in
    with apps[0].factory() as session:
        assert len(session.scalars(select(WebSignInLink)).all()) == 1  # LKPP's only
