"""jinja2 templates -> subject, plain text and HTML alternative.

One file per template (``templates/<key>.j2``) with the blocks ``subject`` and ``text``
and, optionally, ``html``. Without an ``html`` block the HTML alternative is made from
the text (escaped), so wording lives in one place. A deployment overrides any template
by putting a file of the same name in its own folder (``paths.templates``).

A text longer than :data:`HTML_MAX_TEXT_CHARS` gets no HTML alternative (``Rendered.html``
is empty and the mail is plain text only), so a long body is never carried twice.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, TemplateError, select_autoescape
from jinja2.runtime import Context

from mailbot.core.commands import USAGE
from mailbot.core.courtesy import greets, sign_off, signs_off, without_sign_off
from mailbot.settings.resources import builtin_templates

#: The shipped templates (and canned answers in ``answers/``): the installed package's copy, or
#: the source tree's ``templates/`` (see :mod:`mailbot.settings.resources`).
BUILTIN_TEMPLATES = builtin_templates()

#: Every template the product sends; check() verifies each one renders.
TEMPLATE_KEYS = (
    "ack", "need_info", "closed", "escalated", "escalation", "lkpp_answer", "lkpp_user_update", "reopened",
    "staff_answer", "staff_new", "staff_user_reply", "staff_reopened", "staff_lkpp_reply", "staff_error", "staff_bounce", "auto_answer",
    "staff_delivery_failed",
    "reminder", "autoclosed", "staff_sla_warning", "staff_sla_breach", "staff_digest",
    "staff_auth_failed", "staff_unverified", "staff_lkpp_unverified", "lkpp_closed", "lkpp_reopened", "still_missing",
    "data_complete",
    "lkpp_withdrawn", "lkpp_reminder", "lkpp_message",
    "web_signin", "staff_copy", "staff_held", "staff_create_refused", "merged",
)


#: Above this many characters of text a mail has no HTML alternative. The HTML only repeats the
#: text (escaped, in paragraphs), so for a staff notification that quotes a long mail it would
#: double the size of the notification: up to this size the copy costs at most some 70 KB.
#: Dropping it, rather than cutting the HTML short, keeps the whole text readable in every
#: client: one that shows the HTML alternative (Outlook, Gmail) gives no way to the plain part.
HTML_MAX_TEXT_CHARS = 64 * 1024
#: Two or more blank lines in a row (an empty optional block, a staff answer's own spacing): one is
#: enough, and on a phone every blank line is a screen line lost.
_BLANK_RUN = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


class TemplateProblem(ValueError):
    """A template that does not exist or does not render."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str  # "" when the text is too long for an HTML alternative (see HTML_MAX_TEXT_CHARS)


_URL = re.compile(r"(https?://[^\s<>\"]+)")


_INDENT = re.compile(r"^ +", re.MULTILINE)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def text_to_html(text: str) -> str:
    """Escape plain text into simple HTML paragraphs (links made clickable).

    Escaped and linked in one piece, then cut into paragraphs: escaping adds no white space and a
    link holds none, so the paragraphs are those of the text (a test compares with doing it per
    paragraph)."""
    escaped = _URL.sub(r'<a href="\1">\1</a>', html_lib.escape(text.strip()))
    out = []
    for para in _PARAGRAPH_BREAK.split(escaped):
        if not para.strip():
            continue
        if para[:1] == " " or "\n " in para:
            # A line's indentation ("   Contoh: ..." under its item) survives HTML's collapsing of spaces.
            para = _INDENT.sub(lambda m: "&nbsp;" * len(m[0]), para)
        out.append("<p>" + para.replace("\n", "<br>\n") + "</p>")
    return "\n".join(out)


class Renderer:
    def __init__(self, override_dir: Path | None = None, builtin_dir: Path = BUILTIN_TEMPLATES) -> None:
        search: Sequence[Path] = [override_dir, builtin_dir] if override_dir else [builtin_dir]
        self.env = Environment(
            loader=FileSystemLoader([str(p) for p in search]),
            undefined=StrictUndefined,  # a typo in a template fails at check time, not silently
            autoescape=select_autoescape(enabled_extensions=(), default_for_string=False, default=False),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        # Blocks are rendered one by one, which skips top-level imports: expose the macros globally.
        # The keyword lists staff see come from the one list in core.commands: they cannot drift.
        self.env.globals["commands"] = list(USAGE.values())
        self.env.filters["html_text"] = text_to_html
        self.env.tests["greeting"] = greets
        self.env.tests["signed_off"] = signs_off
        # The staff answer's own sign-off goes last (the signature macro), its body where it stands.
        self.env.filters["without_sign_off"] = without_sign_off
        self.env.filters["sign_off"] = sign_off
        self.env.globals["m"] = self.env.get_template("_macros.j2").module
        #: by template key: (the template, a flat copy of its globals), see ``_new_context``
        self._flat_globals: dict[str, tuple[Template, dict[str, Any]]] = {}

    def _new_context(self, key: str, template: Template, context: Mapping[str, object]) -> Context:
        """``template.new_context(dict(context))``, without reading the template's globals (a
        ``ChainMap`` over the environment's) twice per render: their flat copy is kept per template
        (a template reloaded after a change is a new object, and gets a new copy)."""
        entry = self._flat_globals.get(key)
        if entry is None or entry[0] is not template:
            entry = self._flat_globals[key] = (template, dict(template.globals))
        flat = entry[1]
        return self.env.context_class(self.env, {**flat, **context}, template.name, template.blocks, globals=flat)

    def render(self, key: str, context: Mapping[str, object]) -> Rendered:
        try:
            template = self.env.get_template(f"{key}.j2")
            ctx = self._new_context(key, template, context)
            subject = "".join(template.blocks["subject"](ctx))
            text = _BLANK_RUN.sub("\n\n", "".join(template.blocks["text"](ctx)))
            html_block = template.blocks.get("html")
            if len(text) > HTML_MAX_TEXT_CHARS:
                body_html = None  # plain text only: the long text is sent once
            else:
                body_html = "".join(html_block(ctx)) if html_block else text_to_html(text)
        except (TemplateError, KeyError) as exc:
            raise TemplateProblem(f"template {key!r}: {type(exc).__name__}: {exc}") from exc
        subject = " ".join(subject.split())  # one line: no header injection through a template
        page = "" if body_html is None else (
            # The viewport line: a phone's mail app that lays HTML out as a web page (980 px wide
            # without it) shows the text at a third of its size.
            '<!DOCTYPE html><html lang="id"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
            f'<body style="font-family:sans-serif;font-size:14px;line-height:1.4">{body_html}</body></html>'
        )
        return Rendered(subject, text.strip() + "\n", page)

    def check(self, sample: Mapping[str, object]) -> list[str]:
        """Render every template with sample data; return one line per problem."""
        problems = []
        for key in TEMPLATE_KEYS:
            try:
                self.render(key, sample)
            except TemplateProblem as exc:
                problems.append(str(exc))
        return problems


def sample_context() -> dict[str, object]:
    """Data shaped like the service's template context, to render every template once."""
    return {
        "helpdesk": {"name": "Helpdesk", "address": "helpdesk@example.test", "phone": ""},
        "tag": "[TTS-000001]",
        "ticket": {"number": "TTS-000001", "subject": "contoh", "priority": "sedang", "category": "x",
                   "category_label": "Contoh", "category_matched": True, "state": "analysis",
                   "state_label": "dalam analisis", "requester": "user@example.test", "requester_name": "Pengguna",
                   "phone": None, "assignee": None, "missing_labels": [], "resolution_hours": 24,
                   "resolution_text": "24 jam kerja", "opened_local": "01-01-2026 08:00 WIB",
                   "due_local": "02-01-2026 08:00 WIB",
                   "analysis_due_local": "Jumat, 02-01-2026 pukul 08:00 WIB", "url": "https://helpdesk.example.test/tiket/1"},
        "message": {"sender": "user@example.test", "text": "teks", "attachments": []},
        "answer": "jawaban", "items": [], "requested": ["data"], "errors": ["contoh"], "note": "", "closed": False,
        "by_lkpp": False, "into": "TTS-000002", "autoclosed": False, "password_found": False, "reasons": [], "reopen_days": "7", "timeline": [],
        "kronologi": [{"at": "01-01-2026 08:00 WIB", "step": 1, "step_name": "Laporan masuk", "text": "Laporan diterima"}],
        "conversation": [], "bounced": "user@example.test (5.1.1)", "marks": [], "omitted": [], "dossier_limit": "",
        "capped": 0, "how": "signed reply address", "to_lkpp": False, "intro": "", "relay": None, "staff_message": "pesan", "files": ["data.pdf"], "asked": [], "solved": "", "lkpp_number": "4711", "arrived": [], "still": [],
        "suggestions": [{"id": 1, "key": "contoh", "title": "Contoh jawaban"}],
        "opened_off_hours": "Senin, 05-01-2026 pukul 08:00 WIB", "analysis_target": "8 jam kerja",
        "rating_links": [{"score": 5, "label": "sangat baik", "href": "mailto:helpdesk@example.test?subject=Re%3A&body=5"}],
        "priority_reason": "kategori \"Contoh\": prioritas SEDANG",
        # the team (core.team): the colleagues' copy, a held answer, a refused #buat, previous tickets
        "team": {"by": "staf@example.test", "actions": ["menjawab pengguna"], "answer": "jawaban", "minutes": 3},
        "refusal": {"subject": "Fwd: contoh", "reasons": ["contoh"], "unverified": True, "capped": 0},
        "requester_tickets": [{"number": "TTS-000000", "subject": "contoh", "state": "closed",
                               "state_label": "ditutup", "date": "01-12-2025"}],
        "create_address": "helpdesk+c0.0123456789ab@example.test",
        "delivery": {"outbox_id": 1, "recipients": "user@example.test", "subject": "[TTS-000001] Tiket diterima",
                     "error": "550 5.1.1 mailbox unavailable", "attempts": 1, "permanent": True,
                     "template": "ack", "sent_local": "01-01-2026 08:00 WIB"},
        # an OAuth2 mailbox login that stopped working (health)
        "auth": {"kind": "IMAP", "mailbox": "helpdesk@example.test", "server": "imap.example.test:993",
                 "error": "oauth2 token refresh refused: invalid_grant", "since": "01-01-2026 08:00 WIB",
                 "token_url": "https://login.example.test/token", "client_id": "mailbot", "smtp_affected": False},
        # the console's sign-in link (web.pages)
        "signin": {"link": "https://helpdesk.example.test/masuk/abc", "minutes": 15, "role": "petugas",
                   "address": "staf@example.test"},
        # SLA notices, reminders and the daily digest (service.sla_jobs)
        "sla": {"clock": "analysis", "label": "Analisis (langkah 7)", "step": 7, "percent": 75, "breached": False,
                "deadline": "02-01-2026 08:00 WIB", "standard": "8 jam kerja", "used": "6 jam kerja",
                "remaining": "2 jam kerja", "todo": "balas #tutup, #eskalasi atau #mintadata",
                "since": "01-01-2026 08:00 WIB", "reminded": "05-01-2026 08:00 WIB", "autoclose": "08-01-2026 08:00 WIB"},
        "digest": {"date": "02-01-2026", "generated": "02-01-2026 07:30 WIB", "open_total": 1,
                   "by_priority": [{"key": "sedang", "label": "Sedang", "count": 1, "oldest": "1 hari kerja",
                                    "ages": [{"label": "hari ini", "count": 0}, {"label": "1-2 hari", "count": 1}]}],
                   "near": [{"tag": "[TTS-000001]", "number": "TTS-000001", "priority": "sedang",
                             "label": "Analisis (langkah 7)", "deadline": "02-01-2026 08:00 WIB", "percent": 80,
                             "breached": False, "assignee": None, "subject": "contoh"}],
                   "calls": [{"tag": "[TTS-000001]", "requester_name": "Pengguna", "requester": "user@example.test",
                              "phone": "0812", "since": "01-01-2026 08:00 WIB", "subject": "contoh"}],
                   "waiting": [{"tag": "[TTS-000001]", "since": "01-01-2026 08:00 WIB", "remind": "05-01-2026 08:00 WIB",
                                "autoclose": "08-01-2026 08:00 WIB", "subject": "contoh"}]},
    }
