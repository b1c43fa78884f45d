#!/usr/bin/env bash
# The demo: extract Bitrix24 CRM activities with Meltano, from a local Bitrix24 emulator, to JSONL.
#
#   ./scripts/demo.sh
#
# On a fresh machine (Python >= 3.10, PyPI reachable) it creates .venv (the tap, editable) and
# .meltano-venv (Meltano), runs `meltano install`, starts the emulator with DEMO_ACTIVITIES activities
# on port 8024 (or a free port), then
#   1. a full extraction:        meltano run --full-refresh tap-bitrix24 target-jsonl
#   2. changes in the "portal":  POST /_emulator/mutate (updates + inserts)
#   3. an incremental run:       meltano run tap-bitrix24 target-jsonl  (state from run 1)
# and prints where the output is, how many records each run wrote and how long it took.
# The emulator is stopped on exit. Safe to run again: outputs are rewritten, the demo's state
# (state ID dev:tap-bitrix24-to-target-jsonl:demo) is reset by run 1.
#
# Outputs: output/activities.jsonl (run 1), output/changes/activities.jsonl (run 2), Meltano's
# logs output/meltano-run{1,2}.log, the emulator's output/emulator.log.
#
# Knobs: DEMO_ACTIVITIES (20000), DEMO_SEED (24), DEMO_PORT (8024), DEMO_UPDATES (300),
#        DEMO_INSERTS (200), DEMO_INCREMENTAL (1; 0 skips steps 2-3), DEMO_STREAMS (activities;
#        "all" adds activity_bindings and activity_communications, minutes slower at the portal's
#        2 requests/s), DEMO_LOG_LEVEL (info), PYTHON, MELTANO_VERSION.
set -euo pipefail

# shellcheck source=scripts/_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

ACTIVITIES="${DEMO_ACTIVITIES:-20000}"
SEED="${DEMO_SEED:-24}"
UPDATES="${DEMO_UPDATES:-300}"
INSERTS="${DEMO_INSERTS:-200}"
SECRET="demo-secret"
STATE_SUFFIX="demo"
STATE_ID="dev:tap-bitrix24-to-target-jsonl:$STATE_SUFFIX"
OUT_DIR="$REPO_ROOT/output"
CHANGES_DIR="$OUT_DIR/changes"
FULL_FILE="$OUT_DIR/activities.jsonl"
CHANGES_FILE="$CHANGES_DIR/activities.jsonl"

cd "$REPO_ROOT"
started=$(date +%s)

check_python
ensure_project_venv
ensure_meltano
meltano_install

# --- the emulator --------------------------------------------------------------------------
mkdir -p "$OUT_DIR"
EMU_LOG="$OUT_DIR/emulator.log"
EMU_PID=""
cleanup() {
    local rc=$?
    if [[ -n "$EMU_PID" ]] && kill -0 "$EMU_PID" 2>/dev/null; then
        log "Stopping the emulator (pid $EMU_PID)"
        kill -TERM "$EMU_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$EMU_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$EMU_PID" 2>/dev/null || true
        wait "$EMU_PID" 2>/dev/null || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT="$(free_port "${DEMO_PORT:-8024}")"
log "Starting the Bitrix24 emulator: $ACTIVITIES activities, seed $SEED, port $PORT"
"$VENV_DIR/bin/python" -u -m tap_bitrix24.emulator --host 127.0.0.1 --port "$PORT" \
    --activities "$ACTIVITIES" --seed "$SEED" --webhook-secret "$SECRET" >"$EMU_LOG" 2>&1 &
EMU_PID=$!
WEBHOOK_URL=""
for _ in $(seq 600); do
    WEBHOOK_URL="$(sed -n 's/.*webhook: \(http[^ ]*\).*/\1/p' "$EMU_LOG" | head -n1)"
    [[ -n "$WEBHOOK_URL" ]] && break
    kill -0 "$EMU_PID" 2>/dev/null || { cat "$EMU_LOG" >&2; die "the emulator exited"; }
    sleep 0.1
done
[[ -n "$WEBHOOK_URL" ]] || { cat "$EMU_LOG" >&2; die "the emulator did not start within 60 s"; }
head -n1 "$EMU_LOG" >&2
BASE_URL="${WEBHOOK_URL%%/rest/*}"
# Environment variables beat meltano.yml and .env: this run talks to the emulator, whatever
# portal the project is otherwise configured for.
export TAP_BITRIX24_WEBHOOK_URL="$WEBHOOK_URL"
export TARGET_JSONL_DO_TIMESTAMP_FILE=false
# meltano.yml selects activities only; DEMO_STREAMS=all adds activity_bindings (one batch request
# per 50 activities, paced at the portal's 2 requests/s: minutes for 20,000 activities) and
# activity_communications.
# The streams to sync: activities with the deals and contacts they belong to (DEMO_STREAMS="a b",
# or "all" for every stream the portal has).
STREAMS="${DEMO_STREAMS:-activities deals contacts}"
if [[ "$STREAMS" == "all" ]]; then
    export TAP_BITRIX24__SELECT='["*.*"]'
else
    TAP_BITRIX24__SELECT="$(printf '"%s.*",' $STREAMS)"
    export TAP_BITRIX24__SELECT="[${TAP_BITRIX24__SELECT%,}]"
fi

# run_pipeline DIR LOG [meltano run args...]: meltano run writing <stream>.jsonl files into DIR
# (emptied first: target-jsonl appends), the tap's progress lines on the terminal, the whole
# Meltano log in LOG.
run_pipeline() {
    local dir=$1 runlog=$2; shift 2
    mkdir -p "$dir"
    rm -f "$dir"/*.jsonl
    set +e
    TARGET_JSONL_DESTINATION_PATH="$dir" "$MELTANO" --log-level="${DEMO_LOG_LEVEL:-info}" --log-format=plain run \
        --state-id-suffix "$STATE_SUFFIX" "$@" tap-bitrix24 target-jsonl 2>&1 \
        | tee "$runlog" \
        | grep --line-buffered -v -E 'METRIC: |Skipping parse of env var|Using systemdb|Reading state' \
        | sed -u 's/^/    /'
    local rc=${PIPESTATUS[0]}
    set -e
    [[ $rc -eq 0 ]] || die "meltano run failed (exit $rc); the whole log: ${runlog#"$REPO_ROOT"/}"
    touch "$dir/activities.jsonl"
}

# "  activities 20000, deals 5000, ..." for the files of a run
per_stream() {
    local dir=$1 parts=() f
    for f in "$dir"/*.jsonl; do
        [[ -s "$f" ]] || continue
        parts+=("$(basename "$f" .jsonl) $(count "$f")")
    done
    local IFS=,
    echo "${parts[*]}" | sed 's/,/, /g'
}

count() { wc -l <"$1" | tr -d ' '; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# secs_since MS: seconds elapsed since MS (from now_ms), one decimal.
secs_since() { local d=$(( $(now_ms) - $1 )); printf '%d.%d' $((d / 1000)) $(((d % 1000) / 100)); }

# --- 1. full extraction ----------------------------------------------------------------------
log "Run 1: meltano run --full-refresh tap-bitrix24 target-jsonl"
t0=$(now_ms)
run_pipeline "$OUT_DIR" "$OUT_DIR/meltano-run1.log" --full-refresh
full_s=$(secs_since "$t0")
full_n=$(cat "$OUT_DIR"/*.jsonl | wc -l | tr -d ' ')
full_streams=$(per_stream "$OUT_DIR")

# --- 2-3. changes, then an incremental run ---------------------------------------------------
if [[ "${DEMO_INCREMENTAL:-1}" != "0" ]]; then
    log "Changing the portal: $UPDATES activity updates, $INSERTS inserts, and some deals and" \
        "contacts (POST /_emulator/mutate)"
    "$VENV_DIR/bin/python" - "$BASE_URL" "$UPDATES" "$INSERTS" <<'PY'
import json, sys, urllib.request
base, upd, ins = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
items = {"2": {"update": 40, "insert": 10}, "3": {"update": 30, "insert": 5}}
req = urllib.request.Request(
    base + "/_emulator/mutate",
    data=json.dumps({"update": upd, "insert": ins, "delete": 0, "items": items}).encode(),
    headers={"Content-Type": "application/json"},
)
with urllib.request.urlopen(req, timeout=30) as r:
    out = json.load(r)
print(f"    activities: updated {len(out.get('updated', []))}, inserted "
      f"{len(out.get('inserted', []))}; deals: 40 updated, 10 inserted; contacts: 30 updated, "
      "5 inserted", file=sys.stderr)
PY
    log "Run 2: meltano run tap-bitrix24 target-jsonl (incremental, from the saved state)"
    t2=$(now_ms)
    run_pipeline "$CHANGES_DIR" "$OUT_DIR/meltano-run2.log"
    inc_s=$(secs_since "$t2")
    inc_n=$(cat "$CHANGES_DIR"/*.jsonl | wc -l | tr -d ' ')
    inc_streams=$(per_stream "$CHANGES_DIR")
fi

state="$("$MELTANO" --log-level=error state get "$STATE_ID" 2>/dev/null || true)"
total_s=$(( $(date +%s) - started ))

# --- summary ---------------------------------------------------------------------------------
echo
echo "Bitrix24 -> Meltano -> JSONL demo done in ${total_s}s (setup included)."
echo "  portal:    $BASE_URL (emulator, $ACTIVITIES activities, seed $SEED; log: ${EMU_LOG#"$REPO_ROOT"/})"
echo "  run 1 (full):        $full_n records in ${full_s}s -> ${OUT_DIR#"$REPO_ROOT"/}/*.jsonl"
echo "                       ($full_streams)"
if [[ "${DEMO_INCREMENTAL:-1}" != "0" ]]; then
    echo "  run 2 (incremental): $inc_n records in ${inc_s}s -> ${CHANGES_DIR#"$REPO_ROOT"/}/*.jsonl"
    echo "                       ($inc_streams; the portal changed $UPDATES + $INSERTS activities," \
         "50 deals, 35 contacts)"
fi
echo "  state:     $MELTANO state get $STATE_ID"
[[ -n "$state" ]] && echo "$state" | sed 's/^/             /'
echo "  look:      head -n1 ${FULL_FILE#"$REPO_ROOT"/} | python3 -m json.tool"
echo "             head -n1 ${OUT_DIR#"$REPO_ROOT"/}/deals.jsonl | python3 -m json.tool"
