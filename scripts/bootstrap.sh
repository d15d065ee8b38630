#!/usr/bin/env bash
# Create .venv and install mailbot with its test dependencies (idempotent, fast when done).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.mailbot-installed
if [ "${1:-}" = "--refresh-constraints" ]; then
  # The newest releases within pyproject's ranges, then pinned: run the checks and tests before committing it.
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q --upgrade -e '.[dev,pg]'
  { sed -n '/^#/p' constraints.txt; .venv/bin/python -m pip freeze --exclude-editable; } > constraints.txt.new
  mv constraints.txt.new constraints.txt
  touch "$stamp"
  exit 0
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  # The tested versions (constraints.txt); pyproject.toml's ranges are what an operator's install allows.
  .venv/bin/python -m pip install -q -c constraints.txt -e '.[dev,pg]'
  # pip compiled the dependencies' bytecode; the -OO bytecode that contrib/mailbot.service
  # (PYTHONOPTIMIZE=2) loads is compiled here, or every start compiles all of it again.
  .venv/bin/python -OO -m compileall -q -j 0 .venv/lib >/dev/null || true
  touch "$stamp"
fi
