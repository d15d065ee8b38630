"""Reading the settings file: TOML, ``[[helpdesks]]`` merged over the top-level sections, paths
relative to the file, and one clear line per error (``ConfigError``).

The settings' shape is in :mod:`mailbot.settings.config`; this module turns a file into them.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Any, get_args

from pydantic import (
    BaseModel,
    ValidationError,
)

from mailbot.settings.config import (
    PER_HELPDESK,
    ConfigError,
    DatabaseSettings,
    HelpdeskEntry,
    Settings,
)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: tables merge key by key, anything else (lists too) replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _error_line(path: Path, error: ValidationError, entry: tuple[int, dict[str, Any]] | None = None) -> str:
    """One line for the first error; ``entry`` (index, overrides) names a ``[[helpdesks]]`` entry.

    A typo'd section or key comes first: it explains the required one it left missing
    (``[smpt]``: "unknown section smpt (did you mean smtp?)", not "smtp: required key is missing").
    """
    errors = error.errors()
    typos = sorted((e for e in errors if e["type"] == "extra_forbidden"), key=lambda e: len(e["loc"]))
    first = typos[0] if typos else errors[0]
    loc = [str(p) for p in first["loc"]]
    where = ".".join(loc) or "(top level)"
    if entry is not None and (not loc or loc[0] in entry[1] or loc[0] == "key"):
        where = f"helpdesks[{entry[0]}]" + (f".{where}" if loc else "")
    more = len(errors) - 1
    suffix = f" (and {more} more)" if more else ""
    kind = first["type"]
    if kind == "extra_forbidden":
        what = "section" if isinstance(first.get("input"), dict) else "key"
        return f"config error in {path}: unknown {what} {where}{_did_you_mean(loc)}{suffix}"
    if kind == "missing":
        message = "required key is missing"
    else:
        message = first["msg"].removeprefix("Value error, ")
    return f"config error in {path}: {where}: {message}{suffix}"


def _did_you_mean(loc: list[str]) -> str:
    """`` (did you mean smtp?)`` when an allowed name beside ``loc[-1]`` is close to it, else ""."""
    model: Any = Settings
    for part in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return ""
        model = next((a for a in (field.annotation, *get_args(field.annotation))
                      if isinstance(a, type) and issubclass(a, BaseModel)), None)
    names = [n for n in getattr(model, "model_fields", {}) if n != "helpdesk_key"]
    if len(loc) == 1:
        names.append("helpdesks")
    close = difflib.get_close_matches(loc[-1], names, n=1, cutoff=0.6) if loc else []
    return f" (did you mean {'.'.join([*loc[:-1], close[0]])}?)" if close else ""


def resolve_config_path(cli_value: str | None) -> Path:
    value = cli_value or os.environ.get("MAILBOT_CONFIG")
    if not value:
        raise ConfigError("config error: no config file given (use --config PATH or MAILBOT_CONFIG)")
    return Path(value)


def load_settings(path: Path, *, consent: bool = False) -> Settings:
    """Read and validate ``path``; raise ConfigError with one line on any problem.

    ``consent``: for ``mailbot oauth authorize``, which obtains the first refresh token, so an
    OAuth2 section may have none yet (and its variable may not be set).
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config error: file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config error in {path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config error: cannot read {path}: {exc.strerror}") from None
    # Relative paths in the file are relative to the file, so a config works from any cwd.
    base = path.resolve().parent
    _resolve_paths(data, base)
    _resolve_database(data, base)
    if "helpdesk_key" in data:
        raise ConfigError(f"config error in {path}: helpdesk_key: unknown key (use [[helpdesks]] entries with a key)")
    entries = data.pop("helpdesks", None)
    if entries is None:
        settings = _validate(path, data, None, consent)
        settings._deployment = (settings,)
        return settings
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"config error in {path}: helpdesks: must be one or more [[helpdesks]] tables")
    deployment: list[Settings] = []
    keys: dict[str, int] = {}
    addresses: dict[str, int] = {}
    accounts: dict[str, int] = {}
    for index, raw in enumerate(entries):
        deployment_wide = [n for n in raw if n in Settings.model_fields and n not in PER_HELPDESK]
        if deployment_wide:
            raise ConfigError(f"config error in {path}: helpdesks[{index}].{deployment_wide[0]}: belongs to the whole "
                              f"deployment: set it in the top-level [{deployment_wide[0]}], not per helpdesk")
        _resolve_paths(raw, base)
        try:
            entry = HelpdeskEntry.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(_error_line(path, exc, (index, raw))) from None
        if entry.key in keys:
            raise ConfigError(f"config error in {path}: helpdesks[{index}].key: {entry.key!r} is already the key "
                              f"of helpdesks[{keys[entry.key]}]")
        keys[entry.key] = index
        overrides = {name: raw[name] for name in PER_HELPDESK if name in raw}
        merged = deep_merge(data, overrides)
        merged["helpdesk_key"] = entry.key
        settings = _validate(path, merged, (index, overrides), consent)
        address = settings.helpdesk.address
        if address in addresses:
            raise ConfigError(f"config error in {path}: helpdesks[{index}].helpdesk.address: {address!r} is already "
                              f"the address of helpdesks[{addresses[address]}]")
        addresses[address] = index
        # Two helpdesks polling one INBOX would each take every mail (claims are per helpdesk).
        account = f"{settings.imap.username}@{settings.imap.host}:{settings.imap.port}".lower()
        if account in accounts:
            raise ConfigError(f"config error in {path}: helpdesks[{index}].imap.username: mailbox {account!r} is "
                              f"already the mailbox of helpdesks[{accounts[account]}]")
        accounts[account] = index
        deployment.append(settings)
    for settings in deployment:
        settings._deployment = tuple(deployment)
    return deployment[0]


#: The files and folders a config names, as (section, key): relative ones are relative to the file.
PATH_KEYS = (("imap", "ca_file"), ("smtp", "ca_file"), ("paths", "templates"), ("paths", "priorities"))


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    for section, key in PATH_KEYS:
        value = data.get(section, {}).get(key) if isinstance(data.get(section), dict) else None
        if isinstance(value, str) and value and not Path(value).is_absolute():
            data[section][key] = str(base / value)


def _resolve_database(data: dict[str, Any], base: Path) -> None:
    """``database.url`` (the default too) with a relative SQLite file made relative to the config's folder."""
    section = data.setdefault("database", {})
    if isinstance(section, dict):
        url = section.get("url", DatabaseSettings.model_fields["url"].default)
        if isinstance(url, str):
            section["url"] = sqlite_url_beside(url, base)


def sqlite_url_beside(url: str, base: Path) -> str:
    """``url`` with a relative SQLite file path made absolute against ``base`` (the config's folder).

    ``sqlite:///var/mailbot.db`` in ``/etc/mailbot/mailbot.toml`` is ``sqlite:////etc/mailbot/var/mailbot.db``
    wherever the command runs. Absolute paths (``sqlite:////var/lib/mailbot/mailbot.db``), ``:memory:``,
    ``file:`` URIs and other databases are returned unchanged.
    """
    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme.lower().split("+", 1)[0] != "sqlite" or not rest.startswith("/"):
        return url
    file, mark, query = rest[1:].partition("?")
    if not file or file == ":memory:" or file.startswith("file:") or Path(file).is_absolute():
        return url
    return f"{scheme}:///{base / file}{mark}{query}"


def _validate(path: Path, data: dict[str, Any], entry: tuple[int, dict[str, Any]] | None,
              consent: bool = False) -> Settings:
    """One helpdesk's complete settings; ``entry`` names its ``[[helpdesks]]`` entry in errors."""
    try:
        settings = Settings.model_validate(data, context={"consent": consent})
        # Touch env-provided secrets now so a missing variable fails at start, not mid-run.
        for name, server in (("imap", settings.imap), ("smtp", settings.smtp)):
            if server.auth == "xoauth2":
                assert server.oauth2 is not None
                where = f"{name}.oauth2" if "oauth2" in data.get(name, {}) else "oauth2"
                server.oauth2.client_secret_value(where)
                if not consent:
                    server.oauth2.refresh_token_value(where)
            else:
                server.password_value  # noqa: B018
        settings.helpdesk.secret_value  # noqa: B018
    except ValidationError as exc:
        raise ConfigError(_error_line(path, exc, entry)) from None
    except ConfigError as exc:
        if entry is None:
            raise
        raise ConfigError(str(exc).replace("config error: ", f"config error: helpdesks[{entry[0]}]: ", 1)) from None
    return settings
