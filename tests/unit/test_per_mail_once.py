"""Work the sixth pass does once instead of per mail or per reply gives what the plain code gives.

Each shortcut (a cached set, pattern, header line, template globals, the sender's role) is
compared with the code it replaces on varied inputs.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest

from mailbot.core import sla, threads
from mailbot.core.domain import fold_address
from mailbot.mail import compose
from mailbot.mail.render import TEMPLATE_KEYS, Renderer, TemplateProblem
from mailbot.mail.render import sample_context as _sample_context
from mailbot.service import effects
from mailbot.settings.config import Settings
from tests.unit.test_auth_results import _settings

# ---- Settings.is_staff ------------------------------------------------------------------------

ADDRESSES = ["staf1@lpse.test", "Staf2@LPSE.test", "koord@lpse.test", "k\u212aoord@lpse.test", "STAF1@lpse.test",
             "staf1@lpse.test ", "", "x@y", "Ünï@lpse.test", "staf3@lpse.test"]


@pytest.mark.parametrize("staff", [["staf1@lpse.test"], ["Staf2@LPSE.test", "koord@lpse.test"],
                                   ["\u212aoord@lpse.test", "Ünï@LPSE.test", "staf3@lpse.test"]])
def test_is_staff_is_the_plain_folded_comparison(staff: list[str]) -> None:
    settings = _settings({"addresses": staff})
    for address in ADDRESSES:
        plain = {fold_address(a) for a in settings.staff.addresses}  # as validated
        assert settings.is_staff(address) is (fold_address(address) in plain), address


def test_is_staff_follows_the_settings_it_is_asked_of() -> None:
    first, second = _settings({"addresses": ["a@lpse.test"]}), _settings({"addresses": ["b@lpse.test"]})
    assert first.is_staff("A@lpse.test") and not first.is_staff("b@lpse.test")
    assert second.is_staff("b@LPSE.test") and not second.is_staff("a@lpse.test")
    changed = first.model_copy(update={"staff": second.staff})
    assert changed.is_staff("b@lpse.test") and not changed.is_staff("a@lpse.test")


# ---- threads.signed_ticket ------------------------------------------------------------------------


def _plain_signed_ticket(addresses: list[str], base: str, secret: str, channel: str) -> int | None:
    """The first version: the pattern built for every call."""
    local, _, domain = base.lower().partition("@")
    letter = threads._CHANNELS[channel][1]
    pattern = re.compile(rf"^{re.escape(local)}\+{letter}(\d{{1,9}})\.([0-9a-f]{{12}})@{re.escape(domain)}$")
    for address in addresses:
        match = pattern.match(address.lower())
        if match:
            ticket_id = int(match.group(1))
            if threads.hmac.compare_digest(match.group(2), threads.reply_token(secret, ticket_id, channel, base)):
                return ticket_id
    return None


@pytest.mark.parametrize("base", ["helpdesk@lpse.test", "Help.Desk@LPSE.test", "hd+x@lpse.test", "a@b"])
@pytest.mark.parametrize("channel", ["staff", "lkpp", "create"])
def test_signed_ticket_is_the_plain_search(base: str, channel: str) -> None:
    secret = "s3cret-0123456789"
    local, _, domain = base.partition("@")
    good = [threads.reply_address(base, n, secret, channel) for n in (1, 42, 999999999)]
    other = [threads.reply_address(base, 7, secret, c) for c in ("staff", "lkpp", "create") if c != channel]
    forged = [f"{local}+{threads._CHANNELS[channel][1]}5.0123456789ab@{domain}",
              f"{local}+{threads._CHANNELS[channel][1]}5.0123456789ab@{domain}.evil"]
    cases = [[], ["someone@lpse.test"], good[:1], good[1:], [a.upper() for a in good], other, forged,
             forged + good[2:], other + good, [f"x{good[0]}"], [good[0] + "x"]]
    for addresses in cases:
        assert threads.signed_ticket(addresses, base, secret, channel) == _plain_signed_ticket(
            addresses, base, secret, channel), addresses
    with pytest.raises(KeyError):
        threads.signed_ticket(good, base, secret, "nope")


# ---- sla marks' keys --------------------------------------------------------------------------------


@pytest.mark.parametrize("at", [datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc),
                                datetime(2026, 12, 6, 8, 0, tzinfo=ZoneInfo("Asia/Jakarta")),
                                datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5)))])
def test_a_marks_key_is_the_notice_key(at: datetime) -> None:
    run_key = sla.notice_key("analysis", at, "")
    for mark in ("50", "75", "100", "remind", ""):
        assert run_key + mark == sla.notice_key("analysis", at, mark)


# ---- compose's Date line -------------------------------------------------------------------------


def test_the_date_line_is_the_date_of_every_instant_and_zone() -> None:
    jakarta, utc = ZoneInfo("Asia/Jakarta"), timezone.utc
    base = datetime(2026, 12, 6, 1, 2, 3, tzinfo=utc)
    dates = [base, base, base.astimezone(jakarta), base + timedelta(seconds=1), base.replace(microsecond=5),
             base.astimezone(timezone(timedelta(hours=-3, minutes=-30))), datetime(2026, 12, 6, 1, 2, 3),
             base, datetime(1970, 1, 1, tzinfo=utc)]
    for date in dates + dates[::-1]:
        assert compose._date_line(date) == compose._header_bytes("Date", format_datetime(date)), date


# ---- Renderer's context ----------------------------------------------------------------------------


class _PlainRenderer(Renderer):
    """jinja's own context, as before."""

    def _new_context(self, key: str, template: Any, context: Any) -> Any:
        return template.new_context(dict(context))


def _contexts() -> list[dict[str, object]]:
    varied = []
    for change in ({}, {"items": ["a", "b"], "requested": ["npwp"], "errors": ["x"], "closed": True},
                   {"answer": "<b>x</b> & y\n\n\n  indented\nhttps://lpse.test/a?b=1", "note": "catatan"},
                   {"by_lkpp": True, "to_lkpp": True, "marks": ["m"], "capped": 3, "omitted": [
                       {"filename": "a.pdf", "size": 1, "size_text": "1 KB"}], "dossier_limit": "10 MB"},
                   {"suggestions": [], "requester_tickets": [], "conversation": [], "timeline": []},
                   {"m": "a context value named as a global", "commands": ["#x"]}):
        ctx = _sample_context()
        ctx.update(change)
        varied.append(ctx)
    return varied


def _outcome(renderer: Renderer, key: str, ctx: dict[str, object]) -> object:
    try:
        return renderer.render(key, ctx)
    except TemplateProblem as exc:  # a context value named as a global: the same failure
        return str(exc)


def test_templates_render_as_with_jinjas_own_context() -> None:
    fast, plain = Renderer(), _PlainRenderer()
    outcomes = []
    for ctx in _contexts():
        for key in TEMPLATE_KEYS:
            for _ in range(2):  # the second time from the kept copy
                before = dict(ctx)
                outcomes.append(_outcome(fast, key, ctx))
                assert outcomes[-1] == _outcome(plain, key, ctx), key
                assert ctx == before
    assert sum(isinstance(o, str) for o in outcomes) < len(outcomes) // 4  # most render


def test_a_changed_template_is_read_again(tmp_path: Path) -> None:
    builtin = Path(cast(Any, Renderer().env.loader).searchpath[0])
    own = tmp_path / "ack.j2"
    own.write_text((builtin / "ack.j2").read_text())
    renderer = Renderer(override_dir=tmp_path)
    first = renderer.render("ack", _sample_context())
    own.write_text((builtin / "ack.j2").read_text().replace("{% block subject %}", "{% block subject %}BARU "))
    later = os.stat(own).st_mtime + 10
    os.utime(own, (later, later))
    second = renderer.render("ack", _sample_context())
    assert second.subject == "BARU " + first.subject and second.text == first.text


# ---- the sender's role --------------------------------------------------------------------------


def test_the_senders_role_is_asked_once_per_mail_and_app(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[object] = []
    real = effects.sender_role

    def counting(settings: Settings, mail: Any, secret: str | None = None) -> Any:
        asked.append(mail)
        return real(settings, mail, secret)

    monkeypatch.setattr(effects, "sender_role", counting)
    settings = _settings({"addresses": ["staf1@lpse.test"]})
    app, other_app = SimpleNamespace(settings=settings, secret="x"), SimpleNamespace(settings=settings, secret="x")
    staff = SimpleNamespace(x_mailbot_ticket=None, from_addr="staf1@lpse.test", to=(), cc=(), delivered_to=())
    user = SimpleNamespace(x_mailbot_ticket=None, from_addr="user@example.test", to=(), cc=(), delivered_to=())
    session = SimpleNamespace(info={})
    for mail in (staff, staff, user, user, staff):
        role = effects.role_of(cast(Any, app), cast(Any, session), cast(Any, mail))
        assert role == real(settings, cast(Any, mail), "x")
    assert asked == [staff, user, staff]
    effects.role_of(cast(Any, other_app), cast(Any, session), cast(Any, staff))
    assert asked == [staff, user, staff, staff]


# ---- a decision's template context -------------------------------------------------------------


def test_a_decisions_mails_get_copies_of_one_context(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dict[str, object]] = []

    def template_context(app: Any, session: Any, ticket: Any, mail: Any, classification: Any) -> dict[str, object]:
        made.append({"ticket": ticket, "mail": mail, "n": len(made), "omitted": []})
        return made[-1]

    monkeypatch.setattr(effects, "template_context", template_context)
    replies = effects.Replies()
    first = effects._context_for(cast(Any, None), cast(Any, None), cast(Any, "t"), cast(Any, "m"), None, replies)
    first.update(omitted=["a.pdf"], answer="x")  # what queue_mail adds for one mail stays there
    second = effects._context_for(cast(Any, None), cast(Any, None), cast(Any, "t"), cast(Any, "m"), None, replies)
    assert len(made) == 1 and second == {"ticket": "t", "mail": "m", "n": 0, "omitted": []} and second is not made[0]
    # without a decision's replies (a single mail): made for the call
    alone = effects._context_for(cast(Any, None), cast(Any, None), cast(Any, "t"), cast(Any, "m"), None, None)
    assert len(made) == 2 and alone is made[1]
    assert effects._context_for(cast(Any, None), cast(Any, None), cast(Any, "u"), cast(Any, "m"), None,
                                effects.Replies())["ticket"] == "u"
