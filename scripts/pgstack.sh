#!/usr/bin/env bash
# pgstack.sh - a throwaway PostgreSQL cluster on loopback for mailbot's tests and demos.
#
# Usage: scripts/pgstack.sh install|start|stop|status|env|url [DBNAME]
#
#   install  Installs Debian's "postgresql" package when initdb/pg_ctl are missing
#            (non-interactive; the system's own cluster is not used). Fast no-op otherwise.
#   start    install, then initdb (once) and pg_ctl start as user "postgres" (PostgreSQL
#            refuses to run as root). Idempotent and locked: a running, healthy cluster is
#            left alone. Trust authentication, listening on 127.0.0.1 only.
#   stop     Stops the cluster (fast shutdown). Idempotent. The data stays until the folder goes.
#   status   Exit 0 when the server accepts connections.
#   env      Prints "export PGSTACK_...=" lines (folder, host, port, user, base URL).
#   url      Prints a SQLAlchemy URL for DBNAME (default "postgres").
#
# Settings (environment): PGSTACK_DIR (default /tmp/mailbot-pgstack), PGSTACK_PORT (15432).
# Layout: $PGSTACK_DIR/data (cluster), $PGSTACK_DIR/log, unix socket in $PGSTACK_DIR.
# Tests create a database per test session or per test (tests/support/pgstack.py).

set -euo pipefail

DIR=${PGSTACK_DIR:-/tmp/mailbot-pgstack}
PORT=${PGSTACK_PORT:-15432}
HOST=127.0.0.1
PGUSER_NAME=postgres
START_TIMEOUT=${PGSTACK_START_TIMEOUT:-30}

log() { printf 'pgstack: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

pg_bindir() {
    local d
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        # Debian's wrappers in /usr/bin need a cluster config; use the real binaries when we can.
        for d in /usr/lib/postgresql/*/bin; do
            [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ] && { echo "$d"; return; }
        done
        dirname "$(command -v pg_ctl)"
        return
    fi
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ] && { echo "$d"; return; }
    done
    return 1
}

cmd_install() {
    if pg_bindir >/dev/null 2>&1 && id "$PGUSER_NAME" >/dev/null 2>&1; then
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed and installing it needs root"
    log "installing postgresql (Debian package)"
    export DEBIAN_FRONTEND=noninteractive
    local opts=(-o DPkg::Lock::Timeout=120)
    if ! apt-get "${opts[@]}" install -y -q --no-install-recommends postgresql >/dev/null 2>&1; then
        apt-get "${opts[@]}" update -q >/dev/null
        apt-get "${opts[@]}" install -y -q --no-install-recommends postgresql >/dev/null
    fi
    pg_bindir >/dev/null || die "postgresql installed but pg_ctl/initdb not found"
}

as_pg() {
    if [ "$(id -un)" = "$PGUSER_NAME" ]; then
        bash -c "$1"
    else
        [ "$(id -u)" = 0 ] || die "run as root or as $PGUSER_NAME"
        su "$PGUSER_NAME" -s /bin/bash -c "$1"
    fi
}

ready() {
    local bin
    bin=$(pg_bindir) || return 1
    "$bin/pg_isready" -q -h "$HOST" -p "$PORT" -U "$PGUSER_NAME" -t 2 >/dev/null 2>&1
}

cmd_start() {
    cmd_install
    ready && return 0
    mkdir -p "$DIR"
    exec 9>"$DIR.lock"
    flock -w 120 9 || die "another pgstack start holds $DIR.lock"
    if ready; then
        return 0
    fi
    local bin
    bin=$(pg_bindir)
    chown "$PGUSER_NAME": "$DIR"
    chmod 700 "$DIR"
    if [ ! -s "$DIR/data/PG_VERSION" ]; then
        rm -rf "$DIR/data"
        as_pg "'$bin/initdb' -D '$DIR/data' -A trust -U $PGUSER_NAME -E UTF8 --locale=C.UTF-8 >'$DIR/initdb.log' 2>&1" \
            || as_pg "'$bin/initdb' -D '$DIR/data' -A trust -U $PGUSER_NAME -E UTF8 --locale=C >'$DIR/initdb.log' 2>&1" \
            || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
    fi
    # A postmaster.pid left by a killed server (or a reboot) whose pid is not a postgres now: remove it.
    if [ -s "$DIR/data/postmaster.pid" ]; then
        local pid
        pid=$(head -n 1 "$DIR/data/postmaster.pid")
        if ! { [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ]; }; then
            log "removing the stale $DIR/data/postmaster.pid (pid $pid is gone)"
            rm -f "$DIR/data/postmaster.pid" "$DIR/.s.PGSQL.$PORT.lock"
        fi
    fi
    if ! as_pg "'$bin/pg_ctl' -D '$DIR/data' -w -t $START_TIMEOUT -l '$DIR/log' \
        -o \"-p $PORT -k '$DIR' -c listen_addresses=$HOST -c max_connections=200 -c fsync=off \
            -c synchronous_commit=off -c full_page_writes=off\" start >/dev/null 9>&-" 9>&-; then
        tail -n 30 "$DIR/log" >&2 || true
        die "pg_ctl start failed"
    fi
    local waited=0
    until ready; do
        waited=$((waited + 1))
        [ $waited -le $((START_TIMEOUT * 5)) ] || { tail -n 30 "$DIR/log" >&2; die "server did not come up"; }
        sleep 0.2
    done
    exec 9>&-
    log "PostgreSQL up on $HOST:$PORT (data in $DIR/data)"
}

cmd_stop() {
    local bin
    bin=$(pg_bindir) || return 0
    [ -s "$DIR/data/postmaster.pid" ] || return 0
    as_pg "'$bin/pg_ctl' -D '$DIR/data' -m fast -w -t 30 stop >/dev/null 2>&1" || true
}

cmd_env() {
    cat <<EOF
export PGSTACK_DIR=$DIR
export PGSTACK_HOST=$HOST
export PGSTACK_PORT=$PORT
export PGSTACK_USER=$PGUSER_NAME
export PGSTACK_URL=postgresql+psycopg://$PGUSER_NAME@$HOST:$PORT/postgres
EOF
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    restart) cmd_stop; cmd_start ;;
    status) ready ;;
    env) cmd_env ;;
    url) echo "postgresql+psycopg://$PGUSER_NAME@$HOST:$PORT/${2:-postgres}" ;;
    *) echo "usage: $0 install|start|stop|restart|status|env|url [DBNAME]" >&2; exit 2 ;;
esac
