#!/usr/bin/env bash
# Create .venv and install mailbot with its test dependencies (idempotent, fast when done).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.mailbot-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[dev,pg]'
  # pip compiled the dependencies' bytecode; the -OO bytecode that contrib/mailbot.service
  # (PYTHONOPTIMIZE=2) loads is compiled here, or every start compiles all of it again.
  .venv/bin/python -OO -m compileall -q -j 0 .venv/lib >/dev/null || true
  touch "$stamp"
fi
