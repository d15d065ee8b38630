"""How ``core.solved`` reads the project's mail corpus: a script that prints numbers (not a test).

    .venv/bin/python bench/solved_corpus.py [FOLDER ...]      # default: tests/data

Every ``.eml`` (its new text, as mailbot parses it) and ``.txt`` body under the folders is read by
:func:`mailbot.core.solved.reports_solved`; the ones it takes for "the user says the problem is
solved" are listed with the words found, then the count. Nothing here says whether a hit is right:
read the list (the corpus's mails are mostly new problems, so every hit should be a thank-you for a
solved one).
"""

from __future__ import annotations

import sys
from pathlib import Path

from mailbot.core.parse import parse_mail
from mailbot.core.solved import reports_solved

ROOT = Path(__file__).resolve().parents[1]


def main(folders: list[str]) -> int:
    total = hits = 0
    for folder in folders or [str(ROOT / "tests" / "data")]:
        for path in sorted(Path(folder).rglob("*")):
            if path.suffix not in {".eml", ".txt"} or not path.is_file():
                continue
            raw = path.read_bytes()
            text = parse_mail(raw).new_text if path.suffix == ".eml" else raw.decode("utf-8", "replace")
            total += 1
            words = reports_solved(text)
            if words is not None:
                hits += 1
                print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} | {words} | "
                      f"{' '.join(text.split())[:160]}")
    print(f"{hits} of {total} mails read as 'the problem is solved'")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
