#!/usr/bin/env bash
# The test command: installs what is missing (Python deps, Dovecot/Postfix via apt-get),
# starts the local mail stack, and runs the whole suite. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/mailstack.sh start
exec .venv/bin/python -m pytest "$@"
