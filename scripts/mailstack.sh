#!/usr/bin/env bash
# mailstack.sh - a real mail stack (Dovecot + Postfix) on loopback, for the
# end-to-end tests, the demo and the benchmarks of mailbot.
#
# Usage: scripts/mailstack.sh install|start|stop|restart|restart-dovecot|status|env|logs
#
#   install  Installs dovecot-imapd, dovecot-lmtpd, dovecot-sieve, postfix and swaks
#            from Debian if any is missing (non-interactive; the system's own Postfix
#            and Dovecot are neither configured nor started) and creates the system
#            user "vmail". A fast no-op when everything is there.
#   start    install, then writes every config file into the state folder and starts
#            Dovecot and a separate Postfix instance there (as root, no systemd).
#            Idempotent: if the stack is already up, healthy and its config has not
#            changed, it does nothing. Waits until every port accepts connections,
#            else exits non-zero and prints the tail of the logs.
#   stop     Stops both (gracefully, then kills what is left of them). Idempotent.
#   restart  stop + start.
#   restart-dovecot  Stops Dovecot (its IMAP clients see the server go away) and starts it
#            again; Postfix keeps running and retries LMTP deliveries meanwhile. For fault tests.
#   status   Prints whether each server and port is up; exit 0 only if all are.
#   env      Prints "export MAILSTACK_...=" lines (folder, host, ports, CA file, ...).
#   logs     Prints the tail of both logs.
#
# Ports (all on 127.0.0.1; each can be overridden by the environment variable named):
#   11143  IMAP, plain and STARTTLS          MAILSTACK_IMAP_PORT
#   11993  IMAPS (implicit TLS)              MAILSTACK_IMAPS_PORT
#   12424  LMTP (Postfix -> Dovecot)         MAILSTACK_LMTP_PORT
#   12345  Dovecot SASL auth for Postfix     MAILSTACK_SASL_PORT
#   12525  SMTP, no auth, for local injection from 127.0.0.0/8 to the test domains
#                                            MAILSTACK_SMTP_PORT
#   12587  submission: STARTTLS + AUTH required       MAILSTACK_SUBMISSION_PORT
#   12465  SMTPS: implicit TLS, AUTH required         MAILSTACK_SMTPS_PORT
#   12880  NOT served by the stack: the OAuth2 token introspection URL Dovecot asks
#          for XOAUTH2/OAUTHBEARER logins (http://127.0.0.1:12880/introspect); the
#          tests start a token server there (tests/support/tokenserver.py)
#                                            MAILSTACK_OAUTH_PORT
#
# Mail for the domains lpse.test vendor.test lkpp.test example.test
# (MAILSTACK_DOMAINS) goes through Postfix and LMTP into Dovecot. EVERY address in
# them is a mailbox, with the password "secret": tests make a fresh one per test.
# Plus addresses (x+tag@lpse.test) land in x@lpse.test's INBOX (To keeps x+tag).
# Mail to any other domain is refused (port 12525) or bounced (submission), it
# never leaves the machine. Mail to bounce.test is accepted and then bounced by the
# next hop (port 12526, which refuses everything): a real DSN for bounce tests.
# Logins with XOAUTH2 or OAUTHBEARER (IMAP, and SMTP AUTH through Dovecot's SASL) are
# checked by POSTing the access token to the introspection URL above; with no token
# server running they simply fail, and PLAIN/LOGIN with "secret" keep working.
#
# Layout of the state folder ${MAILSTACK_DIR:-/tmp/mailbot-mailstack}:
#   etc/dovecot.conf, etc/postfix/{main.cf,master.cf}   generated on every start
#   etc/dovecot-oauth2.conf.ext   the oauth2 passdb settings (introspection URL)
#   tls/cert.pem, tls/key.pem     self-signed (DNS:localhost, IP:127.0.0.1); clients
#                                 verify with ssl.create_default_context(cafile=cert.pem)
#   mail/<domain>/<local>/        the user's Maildir (owned by vmail)
#   home/<domain>/<local>/        the user's home (owned by vmail); a Sieve script
#                                 there in .dovecot.sieve runs on delivery (e.g. vacation)
#   log/dovecot.log, log/postfix.log
#   dovecot/, postfix/            runtime state, queue
# Addresses are lower-cased and "+detail" is dropped to find the mailbox.
# Keep MAILSTACK_DIR short: Dovecot's unix sockets live under it (108-byte limit).

set -euo pipefail

# ---------------------------------------------------------------- settings
DIR=${MAILSTACK_DIR:-/tmp/mailbot-mailstack}
HOST=127.0.0.1
IMAP_PORT=${MAILSTACK_IMAP_PORT:-11143}
IMAPS_PORT=${MAILSTACK_IMAPS_PORT:-11993}
LMTP_PORT=${MAILSTACK_LMTP_PORT:-12424}
SASL_PORT=${MAILSTACK_SASL_PORT:-12345}
SMTP_PORT=${MAILSTACK_SMTP_PORT:-12525}
SUBMISSION_PORT=${MAILSTACK_SUBMISSION_PORT:-12587}
REFUSE_PORT=${MAILSTACK_REFUSE_PORT:-12526}  # refuses every recipient: the next hop for bounce.test
SMTPS_PORT=${MAILSTACK_SMTPS_PORT:-12465}
OAUTH_PORT=${MAILSTACK_OAUTH_PORT:-12880}  # served by the tests' token server, not by the stack
DOMAINS=${MAILSTACK_DOMAINS:-lpse.test vendor.test lkpp.test example.test}
PASSWORD=secret
START_TIMEOUT=${MAILSTACK_START_TIMEOUT:-20}

PACKAGES=(dovecot-imapd dovecot-lmtpd dovecot-sieve postfix swaks)
CA_FILE=$DIR/tls/cert.pem
KEY_FILE=$DIR/tls/key.pem
DOVECOT_CONF=$DIR/etc/dovecot.conf
POSTFIX_CONF_DIR=$DIR/etc/postfix
DOVECOT_BASE=$DIR/dovecot/run
POSTFIX_QUEUE=$DIR/postfix/spool
DOVECOT_LOG=$DIR/log/dovecot.log
POSTFIX_LOG=$DIR/log/postfix.log
# Session ids of the process trees we start (used to clean up leftovers).
DOVECOT_SID_FILE=$DIR/run/dovecot.sid
POSTFIX_SID_FILE=$DIR/run/postfix.sid

DOVECOT_PORTS=("$IMAP_PORT" "$IMAPS_PORT" "$LMTP_PORT" "$SASL_PORT")
POSTFIX_PORTS=("$SMTP_PORT" "$SUBMISSION_PORT" "$SMTPS_PORT")

log() { printf 'mailstack: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (Dovecot and Postfix need it)"

# ---------------------------------------------------------------- install
missing_packages() {
    local pkg status
    for pkg in "${PACKAGES[@]}" openssl; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        [ "$status" = "install ok installed" ] || printf '%s\n' "$pkg"
    done
}

cmd_install() {
    local missing
    missing=$(missing_packages)
    if [ -n "$missing" ]; then
        log "installing: $(echo $missing)"
        # Debian's postfix asks what kind of mail server this is: answer "No
        # configuration", so it writes no system main.cf of its own.
        echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
        # Do not let the packages start the system-wide Dovecot and Postfix (there
        # is no systemd here, so invoke-rc.d would run their init scripts): deny it
        # with a temporary policy-rc.d, unless the machine already has one.
        local policy=/usr/sbin/policy-rc.d own_policy=
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\n# temporary, from mailbot scripts/mailstack.sh\nexit 101\n' >"$policy"
            chmod 755 "$policy"
            own_policy=1
            trap 'rm -f /usr/sbin/policy-rc.d' EXIT
        fi
        export DEBIAN_FRONTEND=noninteractive
        # Wait for (rather than fail on) an apt/dpkg run that holds the lock.
        apt-get -o DPkg::Lock::Timeout=600 update -q
        apt-get -o DPkg::Lock::Timeout=600 install -y -q \
            "${PACKAGES[@]}" openssl
        if [ -n "$own_policy" ]; then
            rm -f "$policy"
            trap - EXIT
        fi
    fi
    if ! id -u vmail >/dev/null 2>&1; then
        log "creating system user vmail"
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin vmail
    fi
    # Postfix only accepts "postfix -c DIR" for a DIR that the default instance's
    # main.cf lists in alternate_config_directories. With "No configuration" there
    # is no default main.cf at all: create a minimal one (the system instance
    # stays unconfigured and stopped; we never start it).
    if [ ! -f /etc/postfix/main.cf ]; then
        printf '%s\n' "# Created by mailbot scripts/mailstack.sh so that its own Postfix" \
            "# instance (postfix -c DIR) is allowed. The system instance is unused." \
            "compatibility_level = 3.6" >/etc/postfix/main.cf
    fi
    local alt
    alt=$(postconf -h alternate_config_directories 2>/dev/null || true)
    case " ${alt//,/ } " in
        *" $POSTFIX_CONF_DIR "*) ;;
        *) postconf -e "alternate_config_directories = ${alt:+$alt, }$POSTFIX_CONF_DIR"
           # Postfix would wait ~2 s for a main.cf this fresh to settle.
           touch -d '1 minute ago' /etc/postfix/main.cf ;;
    esac
}

# ---------------------------------------------------------------- processes
# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }

# Pids of the Dovecot/Postfix processes (and Postfix's start script) in session $1.
# Checking the executable keeps a stale session id from ever hitting anything else.
session_members() {
    local sid=$1 p stat exe
    local -a f
    for p in /proc/[0-9]*; do
        { read -r stat <"$p/stat"; } 2>/dev/null || continue
        read -r -a f <<<"${stat##*) }"   # state ppid pgrp session ...
        [ "${f[3]:-}" = "$sid" ] || continue
        exe=$(readlink "$p/exe" 2>/dev/null) || continue
        case $exe in
            /usr/sbin/dovecot | /usr/lib/dovecot/* | /usr/sbin/postfix | /usr/lib/postfix/*)
                echo "${p#/proc/}" ;;
            *) if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q 'postfix-script'; then
                   echo "${p#/proc/}"
               fi ;;
        esac
    done
}

# True if process $1 runs executable $2 and its file /proc/$1/$3 (cmdline or
# environ: NUL-separated) holds the entry $4. Identifies OUR servers for sure:
# a pid file can be stale, and its pid reused by an unrelated process.
proc_is() {
    local pid=$1 exe=$2 file=$3 want=$4 entry
    local -a entries
    [ -e "/proc/$pid/exe" ] && [ "/proc/$pid/exe" -ef "$exe" ] || return 1
    { mapfile -d '' entries <"/proc/$pid/$file"; } 2>/dev/null || return 1
    for entry in "${entries[@]}"; do
        [ "$entry" = "$want" ] && return 0
    done
    return 1
}

is_our_dovecot() { proc_is "$1" /usr/sbin/dovecot cmdline "$DOVECOT_CONF"; }
is_our_postfix() {
    proc_is "$1" /usr/lib/postfix/sbin/master environ "MAIL_CONFIG=$POSTFIX_CONF_DIR"
}

# Pid of our running master, from its pid file $1, checked with function $2.
verified_pid() {
    local pid
    [ -f "$1" ] || return 1
    pid=$(tr -dc 0-9 <"$1")
    [ -n "$pid" ] && "$2" "$pid" && echo "$pid"
}

dovecot_pid() { verified_pid "$DOVECOT_BASE/master.pid" is_our_dovecot; }
postfix_pid() { verified_pid "$POSTFIX_QUEUE/pid/master.pid" is_our_postfix; }

# Session ids of masters of this instance that run without (valid) pid files,
# e.g. after the state folder was deleted under them.
orphan_sessions() {
    local p pid stat
    local -a f
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        if is_our_dovecot "$pid" || is_our_postfix "$pid"; then
            { read -r stat <"$p/stat"; } 2>/dev/null || continue
            read -r -a f <<<"${stat##*) }"
            echo "${f[3]}"
        fi
    done
}

# Kill (TERM, then KILL) whatever Dovecot/Postfix processes are left in the
# sessions whose ids are the arguments.
kill_sessions() {
    local sid pids i
    for i in $(seq 1 30); do
        pids=
        for sid in "$@"; do
            pids+=" $(session_members "$sid")"
        done
        [ -n "${pids// /}" ] || return 0
        if [ "$i" -lt 20 ]; then kill -TERM $pids 2>/dev/null || true
        else kill -KILL $pids 2>/dev/null || true; fi
        sleep 0.1
    done
    die "could not stop processes$pids"
}

all_ports_open() {
    local p
    for p in "${DOVECOT_PORTS[@]}" "${POSTFIX_PORTS[@]}"; do
        port_open "$p" || return 1
    done
}

healthy() { dovecot_pid >/dev/null && postfix_pid >/dev/null && all_ports_open; }

# ---------------------------------------------------------------- config
make_cert() {
    [ -s "$CA_FILE" ] && [ -s "$KEY_FILE" ] && return 0
    log "creating self-signed TLS certificate $CA_FILE"
    mkdir -p "$DIR/tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
        -subj "/CN=localhost/O=mailbot test mail stack" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$KEY_FILE.tmp" -out "$CA_FILE.tmp" 2>/dev/null
    chmod 600 "$KEY_FILE.tmp"
    chmod 644 "$CA_FILE.tmp"
    mv "$KEY_FILE.tmp" "$KEY_FILE"
    mv "$CA_FILE.tmp" "$CA_FILE"
}

# Writes dovecot.conf and Postfix's main.cf/master.cf into folder $1.
write_config() {
    local etc=$1 vmail_uid dh=
    vmail_uid=$(id -u vmail)
    [ -f /usr/share/dovecot/dh.pem ] && dh="ssl_dh = </usr/share/dovecot/dh.pem"
    mkdir -p "$etc/postfix"

    cat >"$etc/dovecot.conf" <<EOF
# Generated by scripts/mailstack.sh on every start: edit the script, not this file.
instance_name = mailbot-mailstack
protocols = imap lmtp
listen = $HOST
base_dir = $DOVECOT_BASE
state_dir = $DIR/dovecot/state
log_path = $DOVECOT_LOG
auth_verbose = yes

# Dovecot runs as root; its login and internal processes may not.
default_login_user = dovenull
default_internal_user = dovecot
default_internal_group = dovecot
mail_uid = vmail
mail_gid = vmail
first_valid_uid = $vmail_uid

# Every user of every domain exists, with the same password; XOAUTH2/OAUTHBEARER logins
# (Microsoft 365 / Google style) are checked against the tests' token server instead.
auth_mechanisms = plain login xoauth2 oauthbearer
auth_username_format = %Lu
auth_failure_delay = 0
disable_plaintext_auth = no
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $DIR/etc/dovecot-oauth2.conf.ext
}
passdb {
  driver = static
  # nodelay: answer a wrong password at once.
  args = password=$PASSWORD nodelay=yes
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=$DIR/home/%d/%n allow_all_users=yes
}
mail_location = maildir:$DIR/mail/%d/%n

ssl = yes
ssl_cert = <$CA_FILE
ssl_key = <$KEY_FILE
$dh

hostname = mailstack.test
postmaster_address = postmaster@lpse.test
recipient_delimiter = +
lmtp_save_to_detail_mailbox = no
# Sieve (vacation, redirect) sends its mail through our Postfix, not sendmail.
submission_host = $HOST:$SMTP_PORT

protocol imap {
  mail_max_userip_connections = 200
}
protocol lmtp {
  mail_plugins = \$mail_plugins sieve
}
plugin {
  sieve = file:~/sieve;active=~/.dovecot.sieve
}

service imap-login {
  inet_listener imap {
    address = $HOST
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = $HOST
    port = $IMAPS_PORT
    ssl = yes
  }
}
service lmtp {
  inet_listener lmtp {
    address = $HOST
    port = $LMTP_PORT
  }
}
# No "auth penalty" (a growing delay for every login from an IP after a failed
# one): every client here is 127.0.0.1, so one wrong-password test would slow
# down all the tests after it. Without this socket the auth process skips it
# (base_dir is emptied before each start, so no stale socket is left behind).
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service auth {
  inet_listener sasl {
    address = $HOST
    port = $SASL_PORT
  }
}
EOF

    cat >"$etc/postfix/main.cf" <<EOF
# Generated by scripts/mailstack.sh on every start: edit the script, not this file.
compatibility_level = 3.6
queue_directory = $POSTFIX_QUEUE
data_directory = $DIR/postfix/data
# Logs go to stdout of "postfix start-fg", which the script appends to $POSTFIX_LOG.
maillog_file = /dev/stdout
mail_owner = postfix
setgid_group = postdrop

myhostname = mailstack.test
mydomain = mailstack.test
myorigin = \$myhostname
inet_interfaces = $HOST
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
smtpd_banner = \$myhostname ESMTP mailbot test mail stack
biff = no
append_dot_mydomain = no
readme_directory = no

# The test domains all go to Dovecot over LMTP; any recipient is accepted.
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
local_transport = error:local delivery is disabled
virtual_mailbox_domains = $DOMAINS
virtual_transport = lmtp:inet:$HOST:$LMTP_PORT
lmtp_host_lookup = native
recipient_delimiter = +
# bounce.test: accepted, then refused by the next hop (port $REFUSE_PORT answers 554), so
# Postfix sends a real delivery status notification (bounce) back to the sender.
relay_domains = bounce.test
transport_maps = inline:{ bounce.test=smtp:[$HOST]:$REFUSE_PORT }
# Nothing ever leaves this machine.
default_transport = error:mailstack delivers only to its test domains
relay_transport = error:mailstack delivers only to its test domains
smtp_dns_support_level = disabled

# Port $SMTP_PORT: clients on loopback, recipients in the test domains, no auth.
smtpd_client_restrictions = permit_mynetworks, reject
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions =

# TLS and SASL (the latter enabled only on the submission and smtps ports).
smtpd_tls_cert_file = $CA_FILE
smtpd_tls_key_file = $KEY_FILE
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_tls_loglevel = 1
smtp_tls_security_level = none
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:$HOST:$SASL_PORT
smtpd_sasl_auth_enable = no

# Fast, test-friendly delivery.
in_flow_delay = 0s
smtpd_error_sleep_time = 0s
delay_warning_time = 0h
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 30s
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
message_size_limit = 52428800
enable_long_queue_ids = yes
EOF

    # No chroot anywhere (the queue lives under /tmp, not /var/spool/postfix).
    cat >"$etc/postfix/master.cf" <<EOF
# Generated by scripts/mailstack.sh on every start: edit the script, not this file.
# service type  private unpriv  chroot  wakeup  maxproc command + args
$SMTP_PORT      inet  n       -       n       -       -       smtpd
$SUBMISSION_PORT inet n       -       n       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
$SMTPS_PORT     inet  n       -       n       -       -       smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
$REFUSE_PORT    inet  n       -       n       -       -       smtpd
  -o syslog_name=postfix/refuse
  -o smtpd_client_restrictions=
  -o smtpd_relay_restrictions=reject
  -o smtpd_recipient_restrictions=reject
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    # Postfix waits (up to ~2 s) until a main.cf written "just now" is a few
    # seconds old, in case it is still being edited: backdate the new files.
    touch -d '1 minute ago' "$etc/dovecot.conf" "$etc/postfix/main.cf" "$etc/postfix/master.cf"
}

# The oauth2 passdb: Dovecot POSTs token=... to the introspection URL and accepts the
# login when the answer is {"active": true, "email": "<the login name>"}.
write_oauth2_config() {
    local etc=$1
    cat >"$etc/dovecot-oauth2.conf.ext" <<EOF
# Generated by scripts/mailstack.sh on every start: edit the script, not this file.
introspection_mode = post
introspection_url = http://$HOST:$OAUTH_PORT/introspect
username_attribute = email
active_attribute = active
active_value = true
timeout_msecs = 5000
EOF
    touch -d '1 minute ago' "$etc/dovecot-oauth2.conf.ext"
}

# ---------------------------------------------------------------- start/stop
show_logs() {
    local f
    for f in "$DOVECOT_LOG" "$POSTFIX_LOG"; do
        echo "----- tail of $f" >&2
        if [ -f "$f" ]; then tail -n 30 "$f" >&2; else echo "(missing)" >&2; fi
    done
}

stop_servers() {
    local pid
    local -a sids=()
    if pid=$(postfix_pid); then
        log "stopping Postfix (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true   # what "postfix stop" does
        sids+=("$pid")                          # the master leads its own session
    fi
    if pid=$(dovecot_pid); then
        log "stopping Dovecot (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
    fi
    # Wait for the graceful stop, then kill what is left: the sessions we
    # started (recorded at start) and any master of ours without a pid file.
    local file
    for file in "$DOVECOT_SID_FILE" "$POSTFIX_SID_FILE"; do
        [ -f "$file" ] && sids+=($(tr -dc '0-9\n' <"$file"))
    done
    sids+=($(orphan_sessions))
    if [ "${#sids[@]}" -gt 0 ]; then
        kill_sessions "${sids[@]}"
    fi
    rm -f "$POSTFIX_QUEUE/pid/master.pid" "$DOVECOT_BASE/master.pid" \
        "$DOVECOT_SID_FILE" "$POSTFIX_SID_FILE"
}

start_servers() {
    local p
    for p in "${DOVECOT_PORTS[@]}" "${POSTFIX_PORTS[@]}"; do
        port_open "$p" && die "port $HOST:$p is already in use by another program"
    done
    mkdir -p "$DIR/log" "$DIR/run" "$DIR/dovecot/state" "$DIR/postfix/data" "$POSTFIX_QUEUE"
    # Mail and homes belong to vmail; Dovecot creates each user's folders on demand.
    mkdir -p "$DIR/mail" "$DIR/home"
    chown vmail:vmail "$DIR/mail" "$DIR/home"
    chmod 755 "$DIR"
    chown postfix "$DIR/postfix/data"

    # Dovecot's runtime folder (sockets, pid) must start empty; see anvil above.
    rm -rf "$DOVECOT_BASE"
    # Dovecot in the foreground (-F) in a session of its own; its own log file.
    # (9>&-: the servers must not inherit the lock on the state folder.)
    setsid dovecot -F -c "$DOVECOT_CONF" </dev/null >>"$DOVECOT_LOG" 2>&1 9>&- &
    local dovecot_sid=$!
    echo "$dovecot_sid" >"$DOVECOT_SID_FILE"
    # Postfix: "start-fg" keeps the master attached, so maillog_file=/dev/stdout
    # lands in the log file (a maillog_file under /tmp would be refused).
    setsid postfix -c "$POSTFIX_CONF_DIR" start-fg </dev/null >>"$POSTFIX_LOG" 2>&1 9>&- &
    local postfix_sid=$!
    echo "$postfix_sid" >"$POSTFIX_SID_FILE"
    disown -a

    local deadline=$((SECONDS + START_TIMEOUT)) problem=
    while ! healthy; do
        # Both stay in the foreground while they run: an exit means failure.
        kill -0 "$dovecot_sid" 2>/dev/null || problem="Dovecot exited"
        kill -0 "$postfix_sid" 2>/dev/null || problem="Postfix exited"
        [ "$SECONDS" -lt "$deadline" ] || problem="not all servers came up within ${START_TIMEOUT}s"
        if [ -n "$problem" ]; then
            log "$problem"
            cmd_status >&2 || true
            show_logs
            stop_servers >/dev/null 2>&1 || true
            exit 1
        fi
        sleep 0.1
    done
    # Postfix's master makes a session of its own: remember it too.
    postfix_pid >>"$POSTFIX_SID_FILE"
}

cmd_start() {
    exec 9>"$DIR.lock"
    flock 9
    cmd_install
    mkdir -p "$DIR"
    make_cert
    # Write the config aside first: an unchanged config on a healthy stack means
    # there is nothing to do.
    rm -rf "$DIR/etc.new"
    write_config "$DIR/etc.new"
    write_oauth2_config "$DIR/etc.new"
    if healthy && diff -rq "$DIR/etc" "$DIR/etc.new" >/dev/null 2>&1; then
        rm -rf "$DIR/etc.new"
        log "already running in $DIR"
        return 0
    fi
    stop_servers
    rm -rf "$DIR/etc"
    mv "$DIR/etc.new" "$DIR/etc"
    local t0=$SECONDS
    start_servers
    log "running in $DIR (ready in $((SECONDS - t0))s): IMAP $IMAP_PORT, IMAPS $IMAPS_PORT," \
        "SMTP $SMTP_PORT, submission $SUBMISSION_PORT, SMTPS $SMTPS_PORT"
}

cmd_restart_dovecot() {
    exec 9>"$DIR.lock"
    flock 9
    local pid p deadline
    if pid=$(dovecot_pid); then
        log "stopping Dovecot (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
    fi
    if [ -f "$DOVECOT_SID_FILE" ]; then
        kill_sessions $(tr -dc '0-9\n' <"$DOVECOT_SID_FILE")
    fi
    rm -rf "$DOVECOT_BASE"
    setsid dovecot -F -c "$DOVECOT_CONF" </dev/null >>"$DOVECOT_LOG" 2>&1 9>&- &
    echo "$!" >"$DOVECOT_SID_FILE"
    disown -a
    deadline=$((SECONDS + START_TIMEOUT))
    for p in "${DOVECOT_PORTS[@]}"; do
        until port_open "$p"; do
            [ "$SECONDS" -lt "$deadline" ] || { show_logs; die "Dovecot did not come back"; }
            sleep 0.05
        done
    done
    log "Dovecot restarted"
}

cmd_stop() {
    [ -d "$DIR" ] || return 0
    exec 9>"$DIR.lock"
    flock 9
    stop_servers
    log "stopped"
}

cmd_status() {
    local ok=0 pid p line
    if pid=$(dovecot_pid); then line="dovecot: up (pid $pid)"; else line="dovecot: down"; ok=1; fi
    for p in "${DOVECOT_PORTS[@]}"; do
        if port_open "$p"; then line+=" $p:open"; else line+=" $p:closed"; ok=1; fi
    done
    echo "$line"
    if pid=$(postfix_pid); then line="postfix: up (pid $pid)"; else line="postfix: down"; ok=1; fi
    for p in "${POSTFIX_PORTS[@]}"; do
        if port_open "$p"; then line+=" $p:open"; else line+=" $p:closed"; ok=1; fi
    done
    echo "$line"
    return $ok
}

cmd_env() {
    local name value
    for name in DIR HOST IMAP_PORT IMAPS_PORT LMTP_PORT SASL_PORT SMTP_PORT \
        SUBMISSION_PORT SMTPS_PORT OAUTH_PORT CA_FILE DOMAINS PASSWORD; do
        value=${!name}
        printf 'export MAILSTACK_%s=%q\n' "$name" "$value"
    done
}

case ${1:-} in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    restart) cmd_stop; cmd_start ;;
    restart-dovecot) cmd_restart_dovecot ;;
    status) cmd_status ;;
    env) cmd_env ;;
    logs) show_logs 2>&1 ;;
    *) echo "usage: $0 install|start|stop|restart|restart-dovecot|status|env|logs" >&2; exit 2 ;;
esac
