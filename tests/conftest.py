"""Suite-wide fixtures: the database backend under test (MAILBOT_TEST_DB=sqlite|postgresql).

Tests that need a database take ``db_url``: a SQLite file in the test's tmp folder, or (with
MAILBOT_TEST_DB=postgresql) a fresh database on the throwaway PostgreSQL cluster that
``tests/support/pgstack.py`` starts, dropped after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import pgstack


def pytest_report_header(config: pytest.Config) -> str:
    return f"mailbot test database: {pgstack.backend()} (MAILBOT_TEST_DB)"


@pytest.fixture(scope="session", autouse=True)
def _drop_test_databases() -> Iterator[None]:
    yield
    pgstack.drop_created()


@pytest.fixture(autouse=True)
def _close_kept_smtp_connections() -> Iterator[None]:
    """The SMTP connections a test's flushes kept (``smtp.keepalive_seconds``) end with the test:
    the next test's server is another one, and its counts start from nothing."""
    yield
    from mailbot.mail import outbox

    outbox.close_connections()


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    url = pgstack.database_url(tmp_path)
    yield url
    if url.startswith("postgresql"):
        pgstack.drop_database(url)
