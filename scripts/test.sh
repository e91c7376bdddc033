#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine, then runs every test.
# Servers the integration tests start themselves (Mosquitto, Redis and a Redis Cluster) come
# from Debian.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# redis-cli makes the test cluster (redis-cli --cluster create)
command -v redis-cli >/dev/null 2>&1 || need_apt+=(redis-tools)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
        # The packages start their own services; the tests start private ones on free ports.
        service mosquitto stop >/dev/null 2>&1 || true
        service redis-server stop >/dev/null 2>&1 || true
    else
        echo "scripts/test.sh: missing ${need_apt[*]}; run as root or install them" >&2
    fi
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test,bench]'
exec .venv/bin/python -m pytest "$@"
