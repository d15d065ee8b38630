"""Where the files that ship with mailbot are: the default templates, the canned answers, the
priority table and the example config.

In the repository they are the top-level folders ``templates/`` and ``config/``: the one copy
anyone edits. A built wheel (or an sdist installed without ``-e``) carries the same folders as
package data under ``mailbot/resources/`` (``setup.py`` maps them there), so an installed mailbot
finds them without any path setting. The installed copy is looked up first, with
:mod:`importlib.resources`; a source tree (a clone, ``pip install -e .``) has none and falls back to
the folders beside the package.

A deployment overrides templates and answers file by file with ``paths.templates`` and replaces
the priority table with ``paths.priorities``; these defaults are what it falls back to.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: The source tree's root, when mailbot runs from one (templates/ and config/ beside the package).
SOURCE_ROOT = Path(__file__).resolve().parents[2]

#: The folders that ship: name in the repository = name under ``mailbot/resources/`` in a wheel.
SHIPPED = ("templates", "config")


def resource_dir(name: str) -> Path:
    """The folder ``name`` ("templates" or "config") of this installation, as a file-system path.

    jinja2 and the loaders read plain files, so an installation must be unpacked on disk (pip
    always installs wheels so); a zipped one would fall back to the source tree and fail there.
    """
    if name not in SHIPPED:
        raise ValueError(f"no shipped folder {name!r} (one of: {', '.join(SHIPPED)})")
    # Asked of this package (always a regular one): ``mailbot`` itself can be a namespace spec
    # under some editable installs. Beside it in a wheel: mailbot/resources/<name>.
    here = resources.files(__package__ or "mailbot.settings")
    if isinstance(here, Path):
        packaged = here.parent / "resources" / name
        if packaged.is_dir():
            return packaged
    return SOURCE_ROOT / name


def builtin_templates() -> Path:
    """The default templates (``*.j2``) and canned answers (``answers/*.md``)."""
    return resource_dir("templates")


def default_priorities() -> Path:
    """The priority table used when ``paths.priorities`` is not set."""
    return resource_dir("config") / "priorities.toml"


def example_config() -> Path:
    """The commented example settings file, the reference of every key."""
    return resource_dir("config") / "mailbot.example.toml"
