#!/usr/bin/env bash
# The test command: installs what is missing (Python deps, Dovecot/Postfix, Chromium and PostgreSQL
# via apt-get), starts the local mail stack and a throwaway PostgreSQL cluster, and runs the whole
# suite twice: on SQLite, then on PostgreSQL (MAILBOT_TEST_DB=postgresql). Extra args go to pytest.
# MAILBOT_TEST_DB=sqlite or =postgresql runs that one pass only.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/mailstack.sh start
scripts/browser.sh install   # Debian's chromium for the console's browser tests (never a Playwright download)
# The suite may restart the local Dovecot for the IMAP-restart test (safe here: one suite at a time).
export MAILBOT_TEST_RESTART_DOVECOT=${MAILBOT_TEST_RESTART_DOVECOT:-1}
case "${MAILBOT_TEST_DB:-}" in
    "") backends=(sqlite postgresql) ;;
    sqlite|sqlite3) backends=(sqlite) ;;
    pg|postgres|postgresql) backends=(postgresql) ;;
    *) echo "MAILBOT_TEST_DB=$MAILBOT_TEST_DB: use sqlite or postgresql" >&2; exit 2 ;;
esac
if [[ " ${backends[*]} " == *" postgresql "* ]]; then
    scripts/pgstack.sh start
fi
# Each pass prints pytest's own summary (with its time) last; the exit code is the first failure's.
status=0
for backend in "${backends[@]}"; do
    echo "=== test pass on $backend (MAILBOT_TEST_DB=$backend) ==="
    code=0
    MAILBOT_TEST_DB=$backend .venv/bin/python -m pytest "$@" || code=$?
    if [ "$status" -eq 0 ]; then status=$code; fi
done
exit "$status"
