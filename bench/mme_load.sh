#!/usr/bin/env bash
# The MME API under load (docs/benchmarks.md, "MME API under load at 100k cases"), end to end:
# a PostgreSQL database with CASES synthetic consented cases, the HPO, the gene catalogue, the
# case index and a peer with a token; gunicorn with WORKERS sync workers on 127.0.0.1:PORT;
# bench/mme_load.py against POST /mme/match; then gunicorn is stopped.
# Safe to run again: the database, the index and the peer are reused (the first run spends a
# minute or so generating 100k cases); the incoming matches of earlier runs are deleted. Extra arguments go to bench/mme_load.py, e.g.
#   bench/mme_load.sh --duration 60 --concurrency 4
#   WORKERS=2 bench/mme_load.sh --rate 50
#   MME_MIN_SCORE=0 MME_REQUIRE_SHARED_GENE=False bench/mme_load.sh --mix phenotype  # 20-result answers
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"

CASES="${CASES:-100000}"
WORKERS="${WORKERS:-3}"
PORT="${PORT:-8765}"
BENCH_DB="${BENCH_DB:-matchmaker_mme_bench_$CASES}"
# Everything this benchmark writes to disk (HPO cache, gene catalogue, case index, token, server
# log) lives here, apart from the dev node's var/: the index belongs to this database only.
BENCH_DIR="${BENCH_DIR:-$ROOT/var/mme-bench-$CASES}"

source "$ROOT/bench/_bench_db.sh"
bench_node_environment mme-load "$BENCH_DB" "$BENCH_DIR"
export ALLOWED_HOSTS=127.0.0.1
# As in production, work after the answer (explaining new incoming matches, e-mailing owners)
# goes to Redis and a Celery worker; the worker runs at the lowest CPU priority here, since it
# shares the 2 cores with the web workers under test (its backlog drains after the run).
# INLINE_TASKS=1 runs that work inside the request instead (no Redis: the embedded default).
if [ "${INLINE_TASKS:-0}" = "1" ]; then
  unset REDIS_URL
else
  export REDIS_URL="${BENCH_REDIS_URL:-redis://127.0.0.1:6379/6}"
  export CELERY_TASK_DEFAULT_QUEUE=mme-load-bench
  export CACHE_KEY_PREFIX=mme-load-bench
fi
# Three busy workers on two cores: one thread per search leaves the cores to the workers
# (CASE_INDEX_SEARCH_THREADS, docs/scaling.md); ~10% less CPU per answer than one per core.
export CASE_INDEX_SEARCH_THREADS="${CASE_INDEX_SEARCH_THREADS:-1}"
# The rate limit would answer 429 after 300 requests a minute.
export MME_RATE_LIMIT_PER_MINUTE=1000000
export LOG_LEVEL=WARNING

bench_prepare_database
python manage.py generate_cases "$CASES" --consented --if-empty --seed 1
if [ ! -s "${CASE_INDEX_PATH:-$DATA_DIR/case-index.npz}" ]; then
  python manage.py build_index
fi

# Older databases of this bench: generate_cases now gives its institution a contact itself.
python manage.py shell --verbosity 0 -c "from matchmaker.cases.models import Institution
Institution.objects.filter(name='Synthetic demo cases', contact_email='').update(
    contact_name='Synthetic demo cases', contact_email='synthetic-cases@example.org')"

TOKEN_FILE="$BENCH_DIR/peer-token"
if [ ! -s "$TOKEN_FILE" ]; then
  python -c "import secrets; print(secrets.token_hex(20))" >"$TOKEN_FILE"
fi
if ! python manage.py shell --verbosity 0 -c "import sys
from matchmaker.federation.models import Peer
sys.exit(0 if Peer.objects.filter(name='load-bench').exists() else 1)"; then
  python manage.py add_peer load-bench --inbound-token-file "$TOKEN_FILE" \
    --description "bench/mme_load.sh: the load generator"
fi
TOKEN="$(cat "$TOKEN_FILE")"
# Every run starts without the incoming matches earlier runs recorded for this peer: finding a
# peer patient's previous matches costs more as they pile up (see docs/benchmarks.md).
python manage.py shell --verbosity 0 -c "from matchmaker.casework.models import Match
Match.objects.filter(direction=Match.Direction.INCOMING, peer__name='load-bench').delete()"
# The whole database: right after generate_cases, autovacuum may not have analysed the new
# tables yet, and without statistics the planner's choices cost ~10 ms per request.
psql -h "$POSTGRES_HOST" -U "$POSTGRES_USER" -d "$BENCH_DB" -qc "VACUUM ANALYZE"

if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then
  echo "Something already listens on 127.0.0.1:$PORT; set PORT to a free port." >&2
  exit 1
fi
# No --preload: the HPO, gene catalogue and case index are loaded lazily, by each worker on its
# first request (mme_load.py's warm-up), so preloading would share only the imports.
gunicorn matchmaker.wsgi:application --workers "$WORKERS" --bind "127.0.0.1:$PORT" \
  --log-level warning >>"$BENCH_DIR/gunicorn.log" 2>&1 &
GUNICORN_PID=$!
WORKER_PID=""
if [ -n "${REDIS_URL:-}" ]; then
  nice -n 19 celery -A matchmaker worker -Q "$CELERY_TASK_DEFAULT_QUEUE" --concurrency 1 \
    --loglevel WARNING >>"$BENCH_DIR/worker.log" 2>&1 &
  WORKER_PID=$!
fi
trap 'kill "$GUNICORN_PID" $WORKER_PID 2>/dev/null || true; wait "$GUNICORN_PID" $WORKER_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  if ! kill -0 "$GUNICORN_PID" 2>/dev/null; then
    echo "gunicorn exited; see $BENCH_DIR/gunicorn.log" >&2
    exit 1
  fi
  if curl -sf -o /dev/null -H "X-Auth-Token: $TOKEN" "http://127.0.0.1:$PORT/mme/heartbeat"; then
    break
  fi
  sleep 0.5
done
echo "gunicorn: $WORKERS workers on 127.0.0.1:$PORT, database $BENCH_DB, log $BENCH_DIR/gunicorn.log"

# The workers' CPU per request is reported (they are gunicorn's children).
SERVER_PIDS="$(pgrep -d, -P "$GUNICORN_PID" || true)"
python bench/mme_load.py --url "http://127.0.0.1:$PORT/mme" --token "$TOKEN" \
  --server-pids "$SERVER_PIDS" "$@"
