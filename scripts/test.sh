#!/usr/bin/env bash
# The test command: installs what is missing (Python deps, Dovecot/Postfix via apt-get),
# starts the local mail stack, and runs the whole suite. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/mailstack.sh start
# The suite may restart the local Dovecot for the IMAP-restart test (safe here: one suite at a time).
export MAILBOT_TEST_RESTART_DOVECOT=${MAILBOT_TEST_RESTART_DOVECOT:-1}
exec .venv/bin/python -m pytest "$@"
