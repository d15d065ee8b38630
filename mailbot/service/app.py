"""The App of one helpdesk: its settings, database, renderer, priority table, answers and secret."""


from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailbot.core.policy import Policy
from mailbot.mail import oauth
from mailbot.mail.render import BUILTIN_TEMPLATES, Renderer
from mailbot.settings import logs
from mailbot.settings.answers import AnswerLibrary, AnswersError, load_answers
from mailbot.settings.config import ConfigError, Settings
from mailbot.settings.priorities import PriorityTable, load_priority_table
from mailbot.storage import models, store

log = logging.getLogger(__name__)



@dataclass
class App:
    settings: Settings
    factory: sessionmaker[Session]
    renderer: Renderer
    table: PriorityTable
    policy: Policy
    answers: AnswerLibrary
    #: The HMAC key of reply addresses and envelope senders: the configured one, or the one
    #: generated at first start and kept in the database (``store.signing_key``).
    secret: str = ""
    #: The SLA calendar and policy (``deadlines.Setup``) with the settings they were built from:
    #: several clocks and templates of every mail need them, and building them costs 0.1 ms a time.
    #: Not an init field, so ``dataclasses.replace`` with other settings starts without it.
    setup_cache: tuple[Settings, object] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.helpdesk.timezone)


@dataclass
class SharedFiles:
    """What helpdesks configured with the same files share (``build_apps``)."""

    tables: dict[Path, PriorityTable] = field(default_factory=dict)
    renderers: dict[Path | None, Renderer] = field(default_factory=dict)
    answers: dict[tuple[Path | None, Path, tuple[str, ...]], AnswerLibrary] = field(default_factory=dict)


def build_app(settings: Settings, *, migrate: bool = True, engine: Engine | None = None,
              shared: SharedFiles | None = None) -> App:
    """The App of one helpdesk; ``engine`` shares a deployment's database, ``shared`` the priority
    tables, renderers and answer libraries of helpdesks with the same files (see ``build_apps``)."""
    if engine is None:
        engine = store.make_engine(settings.database.url)
        if migrate:
            store.upgrade(engine)
        _keep_rotated_tokens(engine)
    if settings.workers.cooperate and engine.dialect.name == "sqlite":
        log.warning("workers.cooperate with SQLite: workers take turns (one writer and one sender at a time); "
                    "use PostgreSQL for several workers")
    # Helpdesks with the same files share one parsed table, one template environment (its compiled
    # templates) and one answer library: a few MB each, which hundreds of helpdesks would repeat.
    cache = shared if shared is not None else SharedFiles()
    paths = settings.paths
    table = cache.tables.get(paths.priorities)
    if table is None:
        table = cache.tables[paths.priorities] = load_priority_table(paths.priorities)
    renderer = cache.renderers.get(paths.templates)
    if renderer is None:
        renderer = cache.renderers[paths.templates] = Renderer(paths.templates)
    answers_key = (paths.templates, paths.priorities, tuple(settings.answers.auto_answer_categories))
    answers = cache.answers.get(answers_key)
    if answers is None:
        answers = cache.answers[answers_key] = load_answer_library(settings, renderer, table)
    secret = settings.helpdesk.secret_value or store.signing_key(
        engine, f"helpdesk/{settings.helpdesk_key}", datetime.now(timezone.utc))
    logs.register_secret(secret, rotating=False)
    return App(
        settings=settings,
        factory=store.make_sessionmaker(engine),
        renderer=renderer,
        table=table,
        policy=Policy(reopen_window=timedelta(days=settings.helpdesk.reopen_window_days),
                      levels=tuple(table.level_names)),
        answers=answers,
        secret=secret,
    )


def secret_source(settings: Settings) -> str:
    """Where a helpdesk's signing secret comes from, for ``check-config`` (never the secret)."""
    if settings.helpdesk.secret_value:
        return "configured (helpdesk.secret" + ("_env" if settings.helpdesk.secret_env else "") + ")"
    return "generated at first start and kept in the database (signing_keys)"


def build_apps(settings: Settings, *, migrate: bool = True, only: str | None = None) -> list[App]:
    """One App per helpdesk of the deployment (``only``: just that one), all on one engine.

    Each has its own settings, renderer (template overrides), priority table and answers.
    """
    chosen = [settings.for_helpdesk(only)] if only is not None else list(settings.per_helpdesk())
    engine = store.make_engine(settings.database.url)
    if migrate:
        store.upgrade(engine)
    _keep_rotated_tokens(engine)
    shared = SharedFiles()
    return [build_app(s, migrate=False, engine=engine, shared=shared) for s in chosen]


def _keep_rotated_tokens(engine: Engine) -> None:
    """OAuth2 refresh tokens that the provider rotates are kept in this database (``oauth``)."""
    oauth.use_vault(models.DatabaseTokenVault(store.make_sessionmaker(engine)))


def load_answer_library(settings: Settings, renderer: Renderer, table: PriorityTable) -> AnswerLibrary:
    """Built-in answers, then the deployment's own (same key overrides); errors are one line."""
    folders = [BUILTIN_TEMPLATES / "answers"]
    if settings.paths.templates:
        folders.append(settings.paths.templates / "answers")
    try:
        library = load_answers(folders, renderer.env, [c.key for c in table.categories])
    except AnswersError as exc:
        raise ConfigError(f"canned answer error: {exc}") from None
    unknown = [c for c in settings.answers.auto_answer_categories if c not in {x.key for x in table.categories}]
    if unknown:
        raise ConfigError(f"config error: answers.auto_answer_categories: '{unknown[0]}' is not a category")
    return library


# ---- classification of the sender ------------------------------------


