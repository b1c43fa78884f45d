# shellcheck shell=bash
# Shared helpers for scripts/demo.sh and scripts/test.sh. Source it; do not run it.
#
# Environment knobs (all optional):
#   PYTHON            interpreter used to create the venvs (default: python3, needs >= 3.10)
#   VENV_DIR          the project's dev venv            (default: <repo>/.venv)
#   MELTANO_VENV      where Meltano itself is installed (default: <repo>/.meltano-venv)
#   MELTANO_VERSION   Meltano release to install        (default: 4.4.1)

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV_DIR="${VENV_DIR:-$REPO_ROOT/.venv}"
MELTANO_VENV="${MELTANO_VENV:-$REPO_ROOT/.meltano-venv}"
MELTANO_VERSION="${MELTANO_VERSION:-4.4.1}"
MELTANO="$MELTANO_VENV/bin/meltano"

# Meltano: no telemetry (no network calls home), no Hub, our project only.
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

check_python() {
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (set PYTHON=/path/to/python3.10+)"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || die "$PYTHON is $("$PYTHON" -V 2>&1); Python >= 3.10 is needed (set PYTHON=...)"
    "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
        || die "$PYTHON lacks venv/ensurepip (Debian: apt-get install python3-venv)"
}

# make_venv DIR: create DIR as a venv unless it already is one.
make_venv() {
    if [[ ! -x "$1/bin/python" ]]; then
        log "Creating venv $1"
        "$PYTHON" -m venv "$1"
    fi
}

# ensure_project_venv [EXTRAS]: .venv with the tap installed editable (pip install -e '.[EXTRAS]').
ensure_project_venv() {
    local spec="."
    [[ -n "${1:-}" ]] && spec=".[$1]"
    make_venv "$VENV_DIR"
    log "Installing tap-bitrix24 into $VENV_DIR (pip install -e '$spec')"
    (cd "$REPO_ROOT" && "$VENV_DIR/bin/python" -m pip install --quiet -e "$spec")
}

# ensure_meltano: Meltano in its own venv (it must not share dependencies with the tap), with
# its `postgres` extra (psycopg 3), so that MELTANO_DATABASE_URI=postgresql+psycopg://... can
# keep the system database (and the state) in PostgreSQL.
ensure_meltano() {
    make_venv "$MELTANO_VENV"
    if [[ "$("$MELTANO" --version 2>/dev/null)" != "meltano, version $MELTANO_VERSION" ]] \
        || ! "$MELTANO_VENV/bin/python" -c 'import psycopg' 2>/dev/null; then
        log "Installing meltano[postgres]==$MELTANO_VERSION into $MELTANO_VENV"
        "$MELTANO_VENV/bin/python" -m pip install --quiet "meltano[postgres]==$MELTANO_VERSION"
    fi
    "$MELTANO" --version >/dev/null || die "meltano did not install into $MELTANO_VENV"
}

# meltano_install: the project's plugins into .meltano/ (skips plugins already up to date).
# The tap is installed editable (pip_url: -e .), so code changes need no reinstall; but Meltano
# only fingerprints the pip_url, so a changed pyproject.toml (new dependencies, entry points)
# forces a clean reinstall of the tap's venv here.
meltano_install() {
    log "meltano install (plugins from meltano.yml; no Meltano Hub needed)"
    (cd "$REPO_ROOT" && "$MELTANO" --log-level=warning install) \
        || die "meltano install failed (see the output above)"
    # Meltano only fingerprints a plugin's pip_url, so a changed pyproject.toml (the tap's
    # dependencies) or a changed loaders/target-postgres-tz (installed, not editable) would go
    # unnoticed: reinstall those venvs when their digest moves.
    reinstall_if_changed tap-bitrix24 "$REPO_ROOT/.meltano/extractors/tap-bitrix24/pyproject.sha256" \
        "$(sha256sum "$REPO_ROOT/pyproject.toml" | cut -d' ' -f1)" "pyproject.toml"
    reinstall_if_changed target-postgres "$REPO_ROOT/.meltano/loaders/target-postgres/wrapper.sha256" \
        "$(tree_digest "$REPO_ROOT/loaders/target-postgres-tz")" "loaders/target-postgres-tz"
}

# tree_digest DIR: one sha256 over the files under DIR (paths and contents; caches and build
# output left out). tests/e2e/conftest.py computes the same digest.
# reinstall_if_changed PLUGIN STAMP_FILE DIGEST WHAT: `meltano install --clean PLUGIN` when DIGEST
# differs from the one recorded in STAMP_FILE (not on the first install, which is fresh anyway).
reinstall_if_changed() {
    local plugin="$1" stamp="$2" sum="$3" what="$4"
    if [[ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]]; then
        if [[ -f "$stamp" ]]; then
            log "$what changed: reinstalling $plugin's venv"
            (cd "$REPO_ROOT" && "$MELTANO" --log-level=warning install --clean "$plugin") \
                || die "meltano install --clean $plugin failed"
        fi
        echo "$sum" >"$stamp"
    fi
}

tree_digest() {
    (cd "$1" && find . -type f -not -path '*/__pycache__/*' -not -name '*.pyc' \
        -not -path './build/*' -not -path './dist/*' -not -path '*.egg-info/*' -print0 \
        | LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1)
}

# free_port [PREFERRED]: PREFERRED if nothing listens there, else a free port from the kernel.
free_port() {
    "$PYTHON" - "${1:-0}" <<'PY'
import socket, sys
want = int(sys.argv[1])
for port in ([want] if want else []) + [0]:
    with socket.socket() as s:
        # Like the emulator's server: a port with only TIME_WAIT leftovers is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(s.getsockname()[1])
        break
PY
}
