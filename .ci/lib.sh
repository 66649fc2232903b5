# Shared by .ci/test, .ci/try-it and .ci/bench.

# Runs a command as root (directly when we are root, else through sudo).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the Debian packages given that are not installed yet.
ensure_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing: ${missing[*]}" >&2
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# A free TCP port on loopback.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits until something listens on 127.0.0.1:$1.
wait_port() {
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on 127.0.0.1:$1 after 10 s" >&2
    return 1
}

# start_pebble DIR: starts pebble-challtestsrv and pebble (PEBBLE_VA_NOSLEEP=1, no authorization reuse unless
# PEBBLE_AUTHZREUSE says otherwise) on free loopback ports; with PEBBLE_DNS_SERVER=HOST:PORT (a BIND, say),
# Pebble asks that server and challtestsrv is not started.
# Sets PEBBLE_DIR_URL, PEBBLE_CA (its TLS certificate), PEBBLE_HTTP_PORT, PEBBLE_MGMT_PORT, PEBBLE_PIDS.
start_pebble() {
    local dir=$1
    mkdir -p "$dir"
    local acme_port mgmt_port dns_port cts_port
    acme_port=$(free_port); mgmt_port=$(free_port); dns_port=$(free_port); cts_port=$(free_port)
    PEBBLE_HTTP_PORT=${PEBBLE_HTTP_PORT:-$(free_port)}
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/pebble.key" \
        -out "$dir/pebble.pem" -days 7 -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
    cat > "$dir/pebble.json" <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$acme_port", "managementListenAddress": "127.0.0.1:$mgmt_port",
 "certificate": "$dir/pebble.pem", "privateKey": "$dir/pebble.key", "httpPort": $PEBBLE_HTTP_PORT, "tlsPort": $(free_port),
 "ocspResponderURL": "", "externalAccountBindingRequired": false}}
JSON
    PEBBLE_PIDS=""
    if [ -z "${PEBBLE_DNS_SERVER:-}" ]; then
        pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dns01 "127.0.0.1:$dns_port" -http01 "" -https01 "" \
            -tlsalpn01 "" -management "127.0.0.1:$cts_port" >"$dir/challtestsrv.log" 2>&1 &
        PEBBLE_PIDS="$!"
    fi
    PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=${PEBBLE_WFE_NONCEREJECT:-0} PEBBLE_AUTHZREUSE=${PEBBLE_AUTHZREUSE:-0} \
        pebble -config "$dir/pebble.json" -dnsserver "${PEBBLE_DNS_SERVER:-127.0.0.1:$dns_port}" >"$dir/pebble.log" 2>&1 &
    PEBBLE_PIDS="$PEBBLE_PIDS $!"
    wait_port "$acme_port"
    wait_port "$mgmt_port"
    PEBBLE_DIR_URL="https://localhost:$acme_port/dir"
    PEBBLE_CA="$dir/pebble.pem"
    PEBBLE_MGMT_PORT=$mgmt_port
}

stop_pebble() {
    # shellcheck disable=SC2086
    [ -n "${PEBBLE_PIDS:-}" ] && kill $PEBBLE_PIDS 2>/dev/null || true
}
