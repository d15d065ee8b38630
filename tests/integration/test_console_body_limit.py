"""The console refuses request bodies larger than any of its forms can take (``web.bodylimit``), before
anything parses them: an anonymous POST to the sign-in form cannot fill memory or disk, and a staff
answer with its files at the limit still goes through.

The deployment is the console tests' (max_attachment_bytes 10 MB by default: a ceiling of 5 x 10 MB + 1 MB).
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, select

from mailbot.storage.models import Outbox, WebSignInLink
from mailbot.web.actions import MAX_FILES
from mailbot.web.bodylimit import body_ceiling
from tests.integration.test_console import STAFF, console, csrf_of, sign_in
from tests.integration.test_console_actions import ids, mails_to, post

__all__ = ["console"]  # the fixture, used by name

CEILING = body_ceiling(MAX_FILES, 10 * 1024 * 1024)


def chunks(total: int, size: int = 1024 * 1024) -> Iterator[bytes]:
    """A body sent without Content-Length (chunked), as a client that hides its size would send it."""
    prefix = b"email=budi%40vendor.test&csrf=x&pad="
    yield prefix
    sent = len(prefix)
    while sent < total:
        part = b"a" * min(size, total - sent)
        sent += len(part)
        yield part


def test_an_anonymous_oversized_post_is_refused_before_it_is_read(console: tuple) -> None:
    (kota, _), _, make = console
    client = make()
    token = csrf_of(client.get("/").text)
    declared = client.post("/masuk", content=b"email=x", headers={
        "content-type": "application/x-www-form-urlencoded", "content-length": str(CEILING + 1)})
    assert declared.status_code == 413 and "terlalu besar" in declared.text
    assert declared.headers["x-frame-options"] == "DENY"  # the security headers are on the refusal too
    streamed = client.post("/masuk", content=chunks(CEILING + 2 * 1024 * 1024),
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert streamed.status_code == 413
    # Nothing was asked for: no sign-in link stored, no mail queued; the form still works after.
    with kota.factory() as session:
        assert session.scalar(select(func.count()).select_from(WebSignInLink)) == 0
        assert session.scalar(select(func.count()).select_from(Outbox).where(Outbox.ticket_id.is_(None))) == 0
    fine = client.post("/masuk", data={"email": STAFF, "csrf": token})
    assert fine.status_code == 200


def test_a_staff_answer_with_files_up_to_the_limit_goes_through(console: tuple) -> None:
    (kota, _), _, make = console
    client = make()
    sign_in(client, kota, STAFF)
    tid = ids(kota)["Lupa password akun"]
    big = b"%PDF-1.4 " + b"0" * (2 * 1024 * 1024)
    files = [("files", (f"lampiran{i}.pdf", big, "application/pdf")) for i in range(3)]
    answered = post(client, tid, "reply", text="Panduan lengkap terlampir.", files=files)
    assert answered.status_code == 303
    reply = mails_to(kota, "budi@vendor.test", tid)[-1]
    assert [p.get_filename() for p in reply.iter_attachments()] == ["lampiran0.pdf", "lampiran1.pdf",
                                                                     "lampiran2.pdf"]
