"""Issue 21 item 4: the new text of real replies, measured on tests/data/replies.

Each case is ``NAME.txt`` (a reply's text body) or ``NAME.eml`` (a whole message, parsed
as mailbot parses it) with ``NAME.expect``: the user's own lines, one per line; ``? ``
marks lines that may or may not reach staff (a "Sent from my iPhone", a ``--``
signature); ``# `` lines say where the case comes from (tests/data/replies/SOURCES.md).

A case passes when every one of the user's lines reaches staff and no other line does:
whatever else the parser keeps is quoted history. Lines are compared stripped, blank
lines ignored. ``tuning/`` is what the parser was tuned on; ``heldout/`` was written and
split off before tuning and is only ever measured.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot.core.parse import parse_mail
from mailbot.core.parse.reply import extract_new_text

CORPUS = Path(__file__).resolve().parents[1] / "data" / "replies"
#: Issue 21's target. Measured when the set was built: tuning 44/67, held-out 20/32 (62.5 %);
#: after tuning: 65/67 and 31/32 (96.9 %); held-out batch 2 (24 cases gathered after tuning,
#: never tuned on): 24/24. Never lowered to pass.
HELDOUT_FLOOR = 0.95
TUNING_FLOOR = 0.95


def _cases(part: str) -> list[Path]:
    return sorted(p for p in (CORPUS / part).iterdir() if p.suffix in {".txt", ".eml"})


def _expected(case: Path) -> tuple[list[str], set[str]]:
    required: list[str] = []
    optional: set[str] = set()
    for line in case.with_suffix(".expect").read_text(encoding="utf-8").splitlines():
        if line.startswith("# ") or not line.strip():
            continue
        if line.startswith("? "):
            optional.add(line[2:].strip())
        else:
            required.append(line.strip())
    return required, optional


def new_text_of(case: Path) -> str:
    if case.suffix == ".eml":
        return parse_mail(case.read_bytes()).new_text
    return extract_new_text(case.read_text(encoding="utf-8"))


def judge(case: Path) -> list[str]:
    """What is wrong with the new text of one case: lost user lines, leaked history lines."""
    required, optional = _expected(case)
    got = [line.strip() for line in new_text_of(case).splitlines() if line.strip()]
    problems = [f"lost: {line!r}" for line in required if line not in got]
    allowed = set(required) | optional
    problems += [f"leaked: {line!r}" for line in got if line not in allowed]
    return problems


def share(part: str) -> tuple[int, int, dict[str, list[str]]]:
    cases = _cases(part)
    failures = {case.name: problems for case in cases if (problems := judge(case))}
    return len(cases) - len(failures), len(cases), failures


def test_the_set_is_big_and_every_case_has_expectations() -> None:
    for part in ("tuning", "heldout"):
        cases = _cases(part)
        assert len(cases) >= 30, part
        for case in cases:
            required, _ = _expected(case)
            assert required, f"{case.name}: no user lines expected"


@pytest.mark.parametrize(("part", "floor"), [("tuning", TUNING_FLOOR), ("heldout", HELDOUT_FLOOR)])
def test_reply_text_share(part: str, floor: float, capsys: pytest.CaptureFixture[str]) -> None:
    passed, total, failures = share(part)
    with capsys.disabled():
        print(f"\nreply text, {part}: {passed}/{total} = {passed / total:.1%}")
        if part == "heldout":  # batch 2 was added after tuning and measured as it came
            late = [c for c in _cases(part) if "held-out batch 2" in c.with_suffix(".expect").read_text("utf-8")]
            late_passed = sum(1 for c in late if c.name not in failures)
            print(f"reply text, heldout batch 2 (after tuning): {late_passed}/{len(late)}")
        if part == "tuning":
            for name, problems in failures.items():
                print(f"  {name}: {'; '.join(problems)[:300]}")
    assert passed / total >= floor, f"{part}: {passed}/{total}"
