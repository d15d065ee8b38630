#!/usr/bin/env bash
# browser.sh - the real browser of the console's tests: Debian's Chromium, driven by Playwright.
#
# Usage: scripts/browser.sh install|path
#
#   install  apt-get install chromium when /usr/bin/chromium is missing (non-interactive; waits
#            for an apt/dpkg run that holds the lock). A fast no-op when it is there. Playwright's
#            own browser download (`playwright install`) is never used: offices and CI machines
#            may not reach it, and Debian's build gets security updates with the system.
#   path     Prints the browser's path (what tests pass to Playwright as executable_path).
set -euo pipefail

CHROMIUM=${MAILBOT_CHROMIUM:-/usr/bin/chromium}

log() { printf 'browser: %s\n' "$*" >&2; }

cmd_install() {
    if [ -x "$CHROMIUM" ]; then
        return 0
    fi
    [ "$(id -u)" = 0 ] || { log "error: $CHROMIUM is missing; as root: apt-get install chromium"; exit 1; }
    log "installing chromium (Debian's package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -q
    apt-get -o DPkg::Lock::Timeout=600 install -y -q chromium
}

case "${1:-}" in
    install) cmd_install ;;
    path) echo "$CHROMIUM" ;;
    *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
