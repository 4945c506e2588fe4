#!/usr/bin/env bash
# Fuzzing the MME API and the local REST API (docs/benchmarks.md, "Fuzzing the APIs"): a fresh
# PostgreSQL database with a clinician, an API token, a peer and a few cases; gunicorn on
# 127.0.0.1:PORT with production settings (DEBUG=False); schemathesis (every phase, positive
# and negative data) for DURATION seconds against every operation of the OpenAPI schema, with
# both credentials. Prints one JSON line: requests (gunicorn's access log), 5xx answers, and
# the failures schemathesis found (5xx or an answer that breaks its documented schema).
#   bench/fuzz.sh                 # 180 s
#   DURATION=600 bench/fuzz.sh
# Exits non-zero when there was any 5xx or failure. Matching runs inside the requests (no Redis).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"

DURATION="${DURATION:-180}"
PORT="${PORT:-8771}"
WORKERS="${WORKERS:-2}"
FUZZ_DB="${FUZZ_DB:-matchmaker_fuzz}"
FUZZ_DIR="${FUZZ_DIR:-$ROOT/var/fuzz}"
mkdir -p "$FUZZ_DIR"
rm -f "$FUZZ_DIR"/access.log "$FUZZ_DIR"/report.json "$FUZZ_DIR"/case-index.*

source "$ROOT/bench/_bench_db.sh"
bench_node_environment fuzz "$FUZZ_DB" "$FUZZ_DIR"
export ALLOWED_HOSTS=127.0.0.1,localhost
export CASE_INDEX_PATH="$FUZZ_DIR/case-index.npz"
export LOG_LEVEL=WARNING
unset REDIS_URL

# A new database each run: the fuzzer creates and deletes cases, and runs should compare.
dropdb -h "$POSTGRES_HOST" -U "$POSTGRES_USER" --if-exists "$FUZZ_DB"
bench_prepare_database
python bench/fuzz.py setup "$FUZZ_DIR"
python bench/fuzz.py schema "$FUZZ_DIR/schema.json"

if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then
  echo "Something already listens on 127.0.0.1:$PORT; set PORT to a free port." >&2
  exit 1
fi
gunicorn matchmaker.wsgi:application --workers "$WORKERS" --bind "127.0.0.1:$PORT" \
  --timeout 120 --access-logfile "$FUZZ_DIR/access.log" --log-level warning \
  >>"$FUZZ_DIR/gunicorn.log" 2>&1 &
GUNICORN_PID=$!
trap 'kill "$GUNICORN_PID" 2>/dev/null || true; wait "$GUNICORN_PID" 2>/dev/null || true' EXIT
PEER_TOKEN="$(cat "$FUZZ_DIR/peer-token")"
API_TOKEN="$(cat "$FUZZ_DIR/api-token")"
for _ in $(seq 1 60); do
  if curl -sf -o /dev/null -H "X-Auth-Token: $PEER_TOKEN" "http://127.0.0.1:$PORT/mme/heartbeat"; then
    break
  fi
  sleep 0.5
done

# The hooks (bench/fuzz.py) put the ids of existing cases and matches into half the paths.
status=0
PYTHONPATH="$ROOT" SCHEMATHESIS_HOOKS=bench.fuzz FUZZ_KNOWN_IDS="$(cat "$FUZZ_DIR/known-ids.json")" \
  st run "$FUZZ_DIR/schema.json" --url "http://127.0.0.1:$PORT" \
  --header "Authorization: Token $API_TOKEN" --header "X-Auth-Token: $PEER_TOKEN" \
  --checks not_a_server_error,response_schema_conformance --mode all \
  --max-time "$DURATION" --workers 1 --continue-on-failure --request-timeout 60 \
  --generation-database none --no-color \
  --report json --report-json-path "$FUZZ_DIR/report.json" >"$FUZZ_DIR/schemathesis.log" 2>&1 ||
  status=$?
tail -n 25 "$FUZZ_DIR/schemathesis.log"
echo "schemathesis exit status $status; full output in $FUZZ_DIR/schemathesis.log"
python bench/fuzz.py summary "$FUZZ_DIR/access.log" "$FUZZ_DIR/report.json"
