"""The TOML of one helpdesk with no mail servers (IMAP and SMTP on port 1), for tests, benches and scripts
that drive the service in-process and only need a valid deployment around a database.

One writer of that literal keeps the required sections in one place: when the configuration gains a
required key, this is the file to change.
"""

from __future__ import annotations

from collections.abc import Sequence


def offline_toml(db_url: str, *, name: str = "Helpdesk Uji", address: str = "helpdesk@lpse.test",
                 secret: str | None = None, staff: Sequence[str] = ("staf@lpse.test",),
                 coordinator: str | None = None, lkpp: str = "helpdesk@lkpp.test", imap_extra: str = "", extra: str = "") -> str:
    """The deployment's TOML text: ``[helpdesk]``, ``[imap]``, ``[smtp]``, ``[staff]``, ``[escalation]`` and
    ``[database]``; ``imap_extra`` is added to ``[imap]`` and ``extra`` appended as it is (more sections,
    or keys of ``[database]``).
    Without ``secret`` the helpdesk gets none (the program then keeps its own in the database)."""
    lines = ["[helpdesk]", f'name = "{name}"', f'address = "{address}"']
    if secret is not None:
        lines.append(f'secret = "{secret}"')
    for section in ("imap", "smtp"):
        lines += [f"[{section}]", 'host = "127.0.0.1"', "port = 1", f'username = "{address}"', 'password = "x"']
        if section == "imap" and imap_extra:
            lines.append(imap_extra.rstrip("\n"))
    lines += ["[staff]", "addresses = [" + ", ".join(f'"{a}"' for a in staff) + "]"]
    if coordinator is not None:
        lines.append(f'coordinator = "{coordinator}"')
    lines += ["[escalation]", f'lkpp_address = "{lkpp}"', "[database]", f'url = "{db_url}"']
    return "\n".join(lines) + "\n" + extra

