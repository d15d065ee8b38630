#!/usr/bin/env bash
# The demo: starts the local mail stack (Dovecot + Postfix on loopback, installed with
# apt-get when missing), runs mailbot on SQLite with a copy of config/mailbot.example.toml in
# var/demo/, sends a few user mails, answers one as staff, and shows the tickets and the replies
# that arrived in the mailboxes. Arguments go to scripts/demo.py (--shuffle, --seed N).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/mailstack.sh start >/dev/null
exec .venv/bin/python scripts/demo.py "$@"
