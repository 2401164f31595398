#!/usr/bin/env bash
# System tools the render tests call (tests/validators.py): nginx (`nginx -t`), promtool (Debian
# package `prometheus`) and openssl (a throwaway certificate for nginx's TLS 1.3 listener). Run as root on a fresh Debian 12 machine; idempotent (a no-op when both are
# installed) and quiet (apt output is shown only when a step fails).
set -euo pipefail

if command -v nginx >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1; then
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        exec sudo -n -- "$0" "$@"
    fi
    echo "system-deps.sh: needs root to apt-get install nginx prometheus openssl" >&2
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
run apt-get install -y -qq --no-install-recommends nginx prometheus openssl

command -v nginx >/dev/null && command -v promtool >/dev/null || {
    echo "system-deps.sh: nginx or promtool still missing after install" >&2
    exit 1
}
