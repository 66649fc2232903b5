#!/usr/bin/env bash
# Entrypoint of Sample-configs/container/Dockerfile, started by tini (PID 1). Guide: Docs/CONTAINER.md.
#
#   (no arguments) or options   mail server: certificate, then Postfix and Dovecot, then `acme daemon`;
#                               the options go to `acme daemon`, and those `acme provision` knows to it too
#   --no-provision [options]    sidecar: `acme issue` when there is no certificate yet, then
#                               `acme daemon --no-provision` (docker-mailserver installs)
#   any command                 run as given: `acme status`, `acme certificates`, `bash`
#
# Environment: OVERRIDE_HOSTNAME (else `hostname -f`), SSL_TYPE (unset: letsencrypt), ACME_EMAIL
# (required with letsencrypt), and what acme reads itself: SSL_DOMAIN, SSL_CERT_PATH, SSL_KEY_PATH,
# SSL_ALT_CERT_PATH, SSL_ALT_KEY_PATH, TLS_LEVEL, ACME_CA_URI (e.g. Let's Encrypt staging), CA_BUNDLE,
# ACME_STORE (fleet mode: the PostgreSQL store the nodes share, Sample-configs/fleet/).
set -euo pipefail

if [[ $# -gt 0 && $1 != -* ]]; then exec "$@"; fi

say() { printf 'entrypoint: %s\n' "$*" >&2; }

# Unset means letsencrypt; SSL_TYPE= (set, empty) still means no TLS at all, for tests only.
export SSL_TYPE=${SSL_TYPE-letsencrypt}
fqdn=${OVERRIDE_HOSTNAME:-$(hostname -f 2>/dev/null || hostname)}
if [[ $fqdn != *.* ]]; then
    say "error: the host name '$fqdn' is not fully qualified: set OVERRIDE_HOSTNAME=mail.example.com"
    exit 64
fi
export OVERRIDE_HOSTNAME=$fqdn

# The first issuance registers an account: SSL_TYPE=letsencrypt agrees to the CA's terms of service.
account=()
if [[ $SSL_TYPE == letsencrypt ]]; then
    if [[ -z ${ACME_EMAIL:-} ]]; then
        say "error: SSL_TYPE=letsencrypt needs ACME_EMAIL, the contact address of the CA account"
        exit 64
    fi
    account=(--email "$ACME_EMAIL" --agree-tos)
fi

# The options of `acme daemon` that `acme issue` and `acme provision` know too (long forms), for
# the first certificate: `pick VALUE_OPTIONS FLAGS` sets `picked` from the container's arguments.
issue_values='email|eab-kid|eab-hmac-key|account-key-type|key-type|http-01-port|http-01-address|server|ca-bundle|config-dir|store|store-key'
issue_flags='agree-tos|staging|quiet|verbose'
provision_values="$issue_values|ssl-type|hostname|ssl-domain|cert-path|key-path|alt-cert-path|alt-key-path|tls-level|traefik-acme|caddy-data|dms-config|tls-dir|postfix-dir|dovecot-dir|dovecot-version"
args=("$@")
pick() {
    local take=false arg
    picked=()
    for arg in "${args[@]}"; do
        if $take; then picked+=("$arg"); take=false
        elif [[ $arg =~ ^--($1)$ ]]; then picked+=("$arg"); take=true
        elif [[ $arg =~ ^--($1)= || $arg =~ ^--($2)$ ]]; then picked+=("$arg")
        fi
    done
}
# After a failure, not at once: Docker restarts a container that ran for over 10 s without delay,
# and each start is a new order at the CA. A usage error (64) is not going to change by waiting.
give_up() {
    if (($1 != 64)); then
        say "error: no certificate (above); exiting in 60 s, then the restart policy retries"
        sleep 60
    fi
    exit "$1"
}

# Sidecar: `acme daemon --no-provision` renews and installs nothing; the first certificate comes
# from `acme issue`, which does nothing while a valid one for the name exists.
sidecar=false
for arg in "$@"; do
    if [[ $arg == --no-provision ]]; then sidecar=true; fi
done
if $sidecar; then
    say "sidecar for $fqdn: issuing and renewing only, the mail container installs"
    if [[ $SSL_TYPE == letsencrypt ]]; then
        pick "$issue_values" "$issue_flags"
        acme issue -d "$fqdn" "${account[@]}" "${picked[@]}" || give_up $?
    fi
    exec acme daemon "${account[@]}" "$@"
fi

# 1. The certificate before the daemons, so that they start with TLS (and port 80 is free for
#    HTTP-01), with the options `acme provision` shares with `acme daemon` (--staging, --key-type,
#    --tls-dir, ...).
pick "$provision_values" "$issue_flags"
provision=("${picked[@]}")
if [[ $SSL_TYPE == letsencrypt && -n ${ACME_STORE:-} ]]; then
    # Fleet mode (Docs/FLEET.md): the store's lineage, or one order under the store's lock, so
    # that nodes starting together do not each order; then provision installs it.
    pick "$issue_values" "$issue_flags"
    acme issue -d "$fqdn" "${account[@]}" "${picked[@]}" || give_up $?
elif [[ $SSL_TYPE == letsencrypt ]]; then
    provision=(--issue-if-missing "${account[@]}" "${provision[@]}")
fi
[[ -n $(postconf -nh myhostname) ]] || postconf -e "myhostname=$fqdn"
acme provision "${provision[@]}" || give_up $?

# 2. Postfix and Dovecot in the foreground, as children of this script, logging to its output.
stopping=false acme_pid='' ended=''
trap 'stopping=true' TERM INT
trap '[[ -z $acme_pid ]] || kill -HUP "$acme_pid" 2>/dev/null || true' HUP
/usr/lib/postfix/configure-instance.sh -    # Debian: resolv.conf and friends into Postfix's chroot
postfix start-fg & postfix_pid=$!
dovecot -F & dovecot_pid=$!

# acme daemon verifies the standard ports it finds listening: give SMTP and IMAP 10 s to appear.
listening() {
    grep -qsE "^ *[0-9]+: [0-9A-F]+:$(printf %04X "$1") [0-9A-F]+:0000 0A " /proc/net/tcp /proc/net/tcp6
}
for _ in {1..100}; do
    if $stopping || { listening 25 && listening 143; }; then break; fi
    sleep 0.1
done

# 3. The daemon. Whichever of the three ends first, the other two are stopped and the container
#    exits for its restart policy; `docker stop` stops acme first, then Postfix and Dovecot.
declare -A name=([$postfix_pid]=postfix [$dovecot_pid]=dovecot)
if ! $stopping; then
    acme daemon "${account[@]}" "$@" & acme_pid=$!
    name[$acme_pid]="acme daemon"
fi
status=0
while ! $stopping; do
    wait -n -p ended "${!name[@]}" && status=0 || status=$?
    if [[ -n ${ended:-} ]]; then    # unset when a signal interrupted the wait
        say "${name[$ended]} ended with status $status; stopping the container"
        ((status != 0)) || status=1
        break
    fi
done
if $stopping; then say "stopping"; status=0; fi
trap '' TERM INT HUP
[[ -z $acme_pid || ${ended:-} == "$acme_pid" ]] || kill -TERM "$acme_pid" 2>/dev/null || true
[[ ${ended:-} == "$postfix_pid" ]] || postfix stop || true
kill -TERM "$dovecot_pid" 2>/dev/null || true
wait || true
exit "$status"
