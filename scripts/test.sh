#!/usr/bin/env bash
# The test command: ruff, mypy and the whole pytest suite, end-to-end tests included.
#
#   ./scripts/test.sh                 # everything
#   ./scripts/test.sh -m 'not e2e'    # extra arguments go to pytest
#   ./scripts/test.sh tests/e2e -x
#
# On a fresh machine it sets up everything the suite needs:
#   .venv           pip install -e '.[test]'  (tap + pytest, ruff, mypy, psycopg)
#   .meltano-venv   meltano[postgres]==$MELTANO_VERSION, then `meltano install` (meltano.yml's plugins)
#   PostgreSQL      cluster 15/main started (apt-get installs postgresql-15 if missing), a role and
#                   database for the tests, password auth over TCP on 127.0.0.1
# Non-interactive (CI=true, no stdin). Root, or sudo rights for the PostgreSQL part.
#
# Knobs: TEST_PG_HOST/PORT/USER/PASSWORD/DATABASE (defaults below; if TEST_PG_SETUP=0 the server
# is not touched and must already accept those credentials), PYTHON, MELTANO_VERSION.
set -euo pipefail

# shellcheck source=scripts/_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
cd "$REPO_ROOT"
started=$(date +%s)

export TEST_PG_HOST="${TEST_PG_HOST:-127.0.0.1}"
export TEST_PG_USER="${TEST_PG_USER:-tap_bitrix24_test}"
export TEST_PG_PASSWORD="${TEST_PG_PASSWORD:-tap_bitrix24_test}"
export TEST_PG_DATABASE="${TEST_PG_DATABASE:-tap_bitrix24_test}"
PG_VERSION="${PG_VERSION:-15}"
PG_CLUSTER="${PG_CLUSTER:-main}"

as_postgres() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        sudo -n -u postgres -- "$@"
    fi
}
as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"; else sudo -n -- "$@"; fi
}

setup_postgres() {
    if ! command -v pg_ctlcluster >/dev/null 2>&1 \
        || [[ ! -x "/usr/lib/postgresql/$PG_VERSION/bin/postgres" ]]; then
        log "Installing postgresql-$PG_VERSION with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        as_root apt-get install -y -q "postgresql-$PG_VERSION" </dev/null \
            || { as_root apt-get update -q </dev/null \
                 && as_root apt-get install -y -q "postgresql-$PG_VERSION" </dev/null; } \
            || die "could not install postgresql-$PG_VERSION"
    fi
    if [[ ! -d "/etc/postgresql/$PG_VERSION/$PG_CLUSTER" ]]; then
        log "Creating PostgreSQL cluster $PG_VERSION/$PG_CLUSTER"
        as_root pg_createcluster "$PG_VERSION" "$PG_CLUSTER"
    fi
    if ! pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" \
            '$1 == v && $2 == c && $4 == "online" {found=1} END {exit !found}'; then
        log "Starting PostgreSQL $PG_VERSION/$PG_CLUSTER"
        as_root pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start
    fi
    local port
    port="$(pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1 == v && $2 == c {print $3}')"
    export TEST_PG_PORT="${TEST_PG_PORT:-$port}"
    for _ in $(seq 60); do
        pg_isready -q -h "$TEST_PG_HOST" -p "$TEST_PG_PORT" && break
        sleep 0.5
    done
    pg_isready -h "$TEST_PG_HOST" -p "$TEST_PG_PORT" \
        || die "PostgreSQL does not answer on $TEST_PG_HOST:$TEST_PG_PORT"

    log "PostgreSQL: role and database $TEST_PG_DATABASE for the tests"
    as_postgres psql -q -X -v ON_ERROR_STOP=1 -p "$TEST_PG_PORT" -d postgres \
        -v user="$TEST_PG_USER" -v password="$TEST_PG_PASSWORD" <<'SQL' >/dev/null
SELECT format('CREATE ROLE %I LOGIN', :'user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'user', :'password') \gexec
SQL
    as_postgres psql -q -X -v ON_ERROR_STOP=1 -p "$TEST_PG_PORT" -d postgres \
        -v user="$TEST_PG_USER" -v db="$TEST_PG_DATABASE" <<'SQL' >/dev/null
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
    PGPASSWORD="$TEST_PG_PASSWORD" psql -q -X -v ON_ERROR_STOP=1 -h "$TEST_PG_HOST" \
        -p "$TEST_PG_PORT" -U "$TEST_PG_USER" -d "$TEST_PG_DATABASE" -c 'SELECT 1' >/dev/null \
        || die "cannot log in to PostgreSQL as $TEST_PG_USER over TCP (check pg_hba.conf)"
}

check_python
ensure_project_venv test
ensure_meltano
meltano_install
if [[ "${TEST_PG_SETUP:-1}" != "0" ]]; then
    setup_postgres
else
    export TEST_PG_PORT="${TEST_PG_PORT:-5432}"
fi
export MELTANO_BIN="$MELTANO"
setup_s=$(( $(date +%s) - started ))
log "Setup done in ${setup_s}s"

# The venv's tools first on PATH (ruff, pytest, tap-bitrix24, python).
export PATH="$VENV_DIR/bin:$PATH"
rc=0
log "ruff check ."
ruff check . || rc=1
log "ruff format --check ."
ruff format --check . || rc=1
log "mypy"
mypy || rc=1
log "pytest $*"
pytest "$@" </dev/null || rc=$?
log "Finished in $(( $(date +%s) - started ))s (setup ${setup_s}s), exit $rc"
exit "$rc"
