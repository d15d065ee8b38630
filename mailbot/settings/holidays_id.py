"""Load the ``holidays`` package's Indonesian calendar without the other ~250 countries.

``holidays.country_holidays("ID")`` finds a country through a lazy loader that imports
``holidays.countries.indonesia``; importing that module first runs the package
``holidays.countries``, whose ``__init__`` imports every country the package knows. That is
7-8 MB of RSS for one country, the largest single cost of ``mailbot poll`` after SQLAlchemy
(issue 7). The Indonesian module imports what it needs by absolute names (calendars, groups,
base classes), so :func:`preload` loads it from its file under its usual name; the lazy
loader then finds it in ``sys.modules`` and the package ``holidays.countries`` is never run.

``mailbot.core.worktime`` (pure core) keeps calling the public API, so the calendar is the same
with or without the preload; if the package's layout changes, the preload gives up and the
public API imports everything as before (correct, only bigger).
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading

import holidays

log = logging.getLogger(__name__)

MODULE = "holidays.countries.indonesia"

_lock = threading.Lock()


def preload() -> None:
    """Put the Indonesian calendar module in ``sys.modules`` (idempotent, thread-safe)."""
    with _lock:
        if MODULE in sys.modules:
            return
        try:
            spec = importlib.util.spec_from_file_location(MODULE, f"{holidays.__path__[0]}/countries/indonesia.py")
            if spec is None or spec.loader is None:
                raise ImportError(f"no loader for {MODULE}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[MODULE] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[MODULE]
                raise
        except (ImportError, OSError) as exc:
            log.debug("holidays: could not load %s alone (%s); the package loads every country", MODULE, exc)
