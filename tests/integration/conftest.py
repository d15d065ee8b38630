"""Integration tier: the real service on the test database (SQLite, or PostgreSQL with
MAILBOT_TEST_DB), with an in-process SMTP server (aiosmtpd) where mail is sent; no Dovecot or
Postfix (those are the e2e tier's).

``make_app`` builds a helpdesk on a fresh database; ``smtp`` is a recording SMTP server and the
settings that point at it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mailbot.service.app import App, build_app
from mailbot.settings.config import SmtpSettings
from mailbot.settings.loading import load_settings
from tests.support.offline_config import offline_toml
from tests.support.pgstack import database_url
from tests.support.smtprecorder import Recorder, recording_smtp

#: The time the integration tests' mail is processed at (a Friday morning in Jakarta).
NOW = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)


def make_app(tmp: Path, extra: str = "") -> App:
    """One helpdesk on a fresh test database (no mail servers: ports 1), ``extra`` TOML appended."""
    cfg = tmp / "mailbot.toml"
    cfg.write_text(offline_toml(database_url(tmp, "db"), secret="rahasia-korpus-0123456789abcdef",
                                extra="[storage]\nmax_attachment_bytes = 100000\n" + extra))
    return build_app(load_settings(cfg))


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, SmtpSettings]]:
    """A recording SMTP server (aiosmtpd, in a thread) and SmtpSettings pointing at it."""
    with recording_smtp() as pair:
        yield pair
