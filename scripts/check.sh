#!/usr/bin/env bash
# The static checks that fail the build before any test runs: style and errors (ruff), types
# (mypy: strict for mailbot/core), and the layer contracts (import-linter).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
.venv/bin/ruff check mailbot tests bench scripts
.venv/bin/mypy
.venv/bin/lint-imports .importlinter
