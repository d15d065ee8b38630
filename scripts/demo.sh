#!/usr/bin/env bash
# The demo: starts the local mail stack (Dovecot + Postfix on loopback, installed with
# apt-get when missing), runs mailbot on SQLite with config/mailbot.example.toml, sends a
# few user mails, and shows the tickets and the replies that arrived in the mailboxes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/mailstack.sh start >/dev/null
exec .venv/bin/python scripts/demo.py "$@"
