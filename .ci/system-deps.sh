#!/usr/bin/env bash
# System tools the tests call. The render tests (tests/validators.py): nginx (`nginx -t`), promtool
# (Debian package `prometheus`) and openssl (a throwaway certificate for nginx's TLS 1.3 listener).
# The loopback testbed (bench/testbed, tests/test_testbed.py) runs them for real, with redis-server,
# PostgreSQL 15 and Node.js (its packages come from the npm registry, pinned by package-lock.json).
# The report test (tests/test_report_html.py) opens `capplan report`'s page in headless Chromium.
# Run as root on a fresh Debian 12 machine; idempotent (each step is skipped when its tools are
# there) and quiet (apt and npm output is shown only when a step fails).
set -euo pipefail
cd "$(dirname "$0")/.."

have_all() {
    for tool in nginx promtool prometheus openssl redis-server node npm taskset setpriv chromium; do
        command -v "$tool" >/dev/null 2>&1 || return 1
    done
    [[ -x /usr/lib/postgresql/15/bin/postgres ]]
}

node_packages() {
    # The testbed's Node packages, exactly as locked (a no-op when node_modules matches the lock).
    local marker=bench/testbed/node_modules/.package-lock.json
    if [[ -f $marker && $marker -nt bench/testbed/package-lock.json ]]; then
        return 0
    fi
    local log
    log=$(mktemp)
    if ! (cd bench/testbed && npm ci --omit=dev --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
        echo "system-deps.sh: npm ci in bench/testbed failed:" >&2
        cat "$log" >&2
        rm -f "$log"
        exit 1
    fi
    rm -f "$log"
}

if have_all; then
    node_packages
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        exec sudo -n -- "$0" "$@"
    fi
    echo "system-deps.sh: needs root to apt-get install nginx prometheus openssl redis-server postgresql chromium" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
cleanup=()
trap 'for f in "${cleanup[@]}"; do rm -f "$f"; done; rm -f "$log"' EXIT

# Install the binaries without starting the nginx / prometheus services (tests only need the tools).
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    cleanup+=(/usr/sbin/policy-rc.d)
fi

run() {
    if ! "$@" >"$log" 2>&1; then
        echo "system-deps.sh: '$*' failed:" >&2
        cat "$log" >&2
        exit 1
    fi
}

run apt-get update -qq
packages=(nginx prometheus openssl redis-server postgresql-15 util-linux chromium)
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
run apt-get install -y -qq --no-install-recommends "${packages[@]}"

have_all || {
    echo "system-deps.sh: a tool is still missing after install (nginx, promtool, prometheus, openssl, redis-server, node, npm, taskset, setpriv, chromium, postgresql-15)" >&2
    exit 1
}
node_packages
