#!/usr/bin/env bash
# Make PostgreSQL (with a `test` database, trusted for user postgres on loopback) and Redis
# answer on 127.0.0.1 for the test suite. Servers that already answer are used as they are;
# missing ones are installed from Debian's packages and started.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

PG_PORT=5432
REDIS_PORT=6379

start_postgres() {
    local fresh=0 version hba
    if ! compgen -G "/etc/postgresql/*/main/postgresql.conf" >/dev/null; then
        apt_ensure postgresql
        fresh=1
    fi
    version="$(ls /etc/postgresql | sort -V | tail -n 1)"
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    if [ "$fresh" -eq 1 ] && ! grep -q "pagemill test server" "$hba"; then
        # A server installed just now for the tests: let user postgres in over loopback.
        # An existing server's authentication is never changed.
        as_root sed -i "1i # pagemill test server: trust loopback\nhost all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust" "$hba"
    fi
    # `start` fails when the package's own install already started it; reload for the trust.
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload || true
    wait_for 127.0.0.1 "$PG_PORT" PostgreSQL
}

start_redis() {
    command -v redis-server >/dev/null 2>&1 || apt_ensure redis-server
    as_root mkdir -p /var/lib/redis /var/log/redis
    as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_for 127.0.0.1 "$REDIS_PORT" Redis
}

ensure_test_database() {
    command -v psql >/dev/null 2>&1 || apt_ensure postgresql-client
    local psql=(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -tAq)
    if ! "${psql[@]}" -c "select 1" >/dev/null; then
        echo "PostgreSQL on 127.0.0.1:$PG_PORT does not let user postgres in without a" \
            "password; set PAGEMILL_TEST_PG to a URL that works" >&2
        exit 1
    fi
    if [ -z "$("${psql[@]}" -c "select 1 from pg_database where datname = 'test'")" ]; then
        "${psql[@]}" -c "create database test"
    fi
}

answers 127.0.0.1 "$PG_PORT" || start_postgres
answers 127.0.0.1 "$REDIS_PORT" || start_redis
if [ -z "${PAGEMILL_TEST_PG:-}" ]; then
    ensure_test_database
fi
echo "PostgreSQL and Redis answer on 127.0.0.1"
