"""The package layout for setuptools (the metadata is in pyproject.toml).

The default templates, canned answers, priority table and example config live once, in the
top-level folders ``templates/`` and ``config/``, where they are edited. A wheel carries them as
package data under ``mailbot/resources/`` (``mailbot.settings.resources`` finds them there first,
then in a source tree), so a non-editable install needs no path setting. There is no copy of
them in the repository: the mapping below puts them in place at build time only.
"""

from setuptools import find_namespace_packages, setup

#: wheel package -> folder in the repository.
RESOURCES = {
    "mailbot.resources.templates": "templates",
    "mailbot.resources.templates.answers": "templates/answers",
    "mailbot.resources.templates.web": "templates/web",
    "mailbot.resources.templates.web.static": "templates/web/static",
    "mailbot.resources.config": "config",
}

setup(
    packages=find_namespace_packages(include=["mailbot", "mailbot.*"], exclude=["*.__pycache__"]) + list(RESOURCES),
    package_dir=RESOURCES,
    package_data={
        "mailbot.storage.migrations": ["*.mako"],
        "mailbot.resources.templates": ["*.j2"],
        "mailbot.resources.templates.answers": ["*.md"],
        "mailbot.resources.templates.web": ["*.html"],
        "mailbot.resources.templates.web.static": ["*.css"],
        "mailbot.resources.config": ["*.toml"],
    },
)
