"""``mailbot run`` raises its own soft open-file limit to what its mailboxes need (issue 24):
hundreds of mailboxes pass the common soft limit of 1024, and the hard limit usually allows more."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from mailbot.ops import fdlimit

PROBE = """
import logging, resource, sys
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
from mailbot.ops import fdlimit
print(fdlimit.raise_to(int(sys.argv[1])), resource.getrlimit(resource.RLIMIT_NOFILE)[0])
"""


def _run_with_limits(soft: int, hard: int, need: int) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return subprocess.run([sys.executable, "-c", PROBE, str(need)], capture_output=True, text=True, check=True,
                          preexec_fn=limit)


def test_hundreds_of_mailboxes_need_more_than_1024() -> None:
    apps = [SimpleNamespace(settings=SimpleNamespace(smtp=SimpleNamespace(connections=3))) for _ in range(300)]
    assert fdlimit.needed(apps) > 1024
    assert fdlimit.needed(apps[:1]) < 1024


def test_the_soft_limit_is_raised_up_to_the_hard_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    out = _run_with_limits(256, min(hard, 8192), 3000)
    assert out.stdout.split() == ["3000", "3000"]
    assert out.stderr == ""  # nothing to say when it worked


def test_a_hard_limit_too_low_is_one_warning_line_and_the_most_it_allows() -> None:
    out = _run_with_limits(256, 600, 3000)
    assert out.stdout.split() == ["600", "600"]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("WARNING open-file limit 600 (hard limit 600) is below the 3000")


def test_never_lowered() -> None:
    assert fdlimit.target(100, 4096, 8192) == 4096
    assert fdlimit.target(5000, 1024, resource.RLIM_INFINITY) == 5000


def test_the_systemd_unit_sets_a_limit_for_hundreds_of_mailboxes() -> None:
    unit = (Path(__file__).resolve().parents[2] / "contrib" / "mailbot.service").read_text()
    [line] = [x for x in unit.splitlines() if x.startswith("LimitNOFILE=")]
    assert int(line.partition("=")[2]) >= 16384
