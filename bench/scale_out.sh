#!/usr/bin/env bash
# Scale-out by hand (docs/scaling.md): two web processes (gunicorn, one worker each, on PORT_A and
# PORT_B) and two Celery workers on this machine, sharing one PostgreSQL database and one Redis.
# A case is created through A, found by a peer's query to B, changed and then withdrawn through B,
# and A's answers follow each change. The workers' JSON logs then show which worker ran which task
# for which request; A's /metrics shows the counters of both web processes; then each process's
# memory. Prints what happened and exits 1 if any answer was not the expected one.
#
# Needs PostgreSQL and Redis running locally, curl and jq. Safe to run again: the database with
# its CASES synthetic cases (generated on the first run, a minute or so at 100k) is reused; each
# run adds one demo case and withdraws it.
#   bench/scale_out.sh
#   CASES=10000 bench/scale_out.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"
for tool in curl jq psql; do
  command -v "$tool" >/dev/null || { echo "bench/scale_out.sh needs $tool" >&2; exit 1; }
done

CASES="${CASES:-100000}"
PORT_A="${PORT_A:-8771}"
PORT_B="${PORT_B:-8772}"
BENCH_DB="${BENCH_DB:-matchmaker_scale_out_$CASES}"
BENCH_DIR="${BENCH_DIR:-$ROOT/var/scale-out-$CASES}"
# One configuration for all four processes, as on several machines sharing the same .env.
source "$ROOT/bench/_bench_db.sh"
bench_node_environment scale-out "$BENCH_DB" "$BENCH_DIR"
export REDIS_URL="${BENCH_REDIS_URL:-redis://127.0.0.1:6379/13}"
export CELERY_TASK_DEFAULT_QUEUE=scale-out-demo
export CACHE_KEY_PREFIX=scale-out-demo
export LOG_FORMAT=json
export ALLOWED_HOSTS=127.0.0.1
export METRICS_TOKEN="scale-out-metrics-$RANDOM$RANDOM$RANDOM"
export FEDERATION_DEBOUNCE_SECONDS=0
export MME_RATE_LIMIT_PER_MINUTE=100000

step() { printf '\n== %s\n' "$*"; }
failures=0
expect() {  # expect DESCRIPTION ACTUAL EXPECTED
  if [ "$2" = "$3" ]; then printf '   ok    %s: %s\n' "$1" "$2"; else
    printf '   WRONG %s: %s (expected %s)\n' "$1" "$2" "$3"; failures=$((failures + 1)); fi
}

step "Database $BENCH_DB with $CASES synthetic cases, Redis $REDIS_URL"
bench_prepare_database
python manage.py generate_cases "$CASES" --consented --if-empty --seed 1
if [ ! -s "$DATA_DIR/case-index.npz" ]; then
  python manage.py build_index
fi
PEER_TOKEN_FILE="$BENCH_DIR/peer-token"
[ -s "$PEER_TOKEN_FILE" ] || python -c "import secrets; print(secrets.token_hex(20))" >"$PEER_TOKEN_FILE"
PEER_TOKEN="$(cat "$PEER_TOKEN_FILE")"
# A clinician with a fresh API token, and a peer that may query us.
API_KEY="$(python manage.py shell --verbosity 0 -c "
from django.contrib.auth.models import User
from matchmaker.cases.models import Institution, Membership
from matchmaker.federation.models import Peer
from matchmaker.federation.services import add_peer
from matchmaker.web.services import create_api_token
clinic, _ = Institution.objects.get_or_create(name='Scale-out Clinic', defaults={
    'contact_name': 'Genetics team', 'contact_email': 'genetics@example.org'})
user, _ = User.objects.get_or_create(username='scale-clinician')
Membership.objects.get_or_create(user=user, defaults={'institution': clinic})
if not Peer.objects.filter(name='Scale Peer').exists():
    add_peer('Scale Peer', inbound_token=open('$PEER_TOKEN_FILE').read().strip())
print(create_api_token(user, name='bench/scale_out.sh')[1])")"

step "Starting web A (:$PORT_A), web B (:$PORT_B), worker-1 and worker-2; logs in $BENCH_DIR"
for port in "$PORT_A" "$PORT_B"; do
  if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
    echo "Something already listens on 127.0.0.1:$port; set PORT_A / PORT_B." >&2
    exit 1
  fi
done
# Start from an empty queue and zero counters, so what is printed below is this run's.
redis-cli -u "$REDIS_URL" del "$CELERY_TASK_DEFAULT_QUEUE" >/dev/null
redis-cli -u "$REDIS_URL" --scan --pattern "$CACHE_KEY_PREFIX:metrics:*" |
  xargs -r redis-cli -u "$REDIS_URL" del >/dev/null
: >"$BENCH_DIR/worker-1.log"
: >"$BENCH_DIR/worker-2.log"
PIDS=()
gunicorn matchmaker.wsgi:application --workers 1 --bind "127.0.0.1:$PORT_A" \
  >"$BENCH_DIR/web-a.log" 2>&1 &
PIDS+=($!)
WEB_A=$!
gunicorn matchmaker.wsgi:application --workers 1 --bind "127.0.0.1:$PORT_B" \
  >"$BENCH_DIR/web-b.log" 2>&1 &
PIDS+=($!)
WEB_B=$!
for worker in worker-1 worker-2; do
  celery -A matchmaker worker --pool solo --queues "$CELERY_TASK_DEFAULT_QUEUE" \
    --hostname "$worker@%h" --loglevel INFO >"$BENCH_DIR/$worker.log" 2>&1 &
  PIDS+=($!)
done
WORKERS=("${PIDS[2]}" "${PIDS[3]}")
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait "${PIDS[@]}" 2>/dev/null || true' EXIT

started=$(date +%s.%N)
for port in "$PORT_A" "$PORT_B"; do
  for _ in $(seq 1 240); do
    if curl -sf -o "$BENCH_DIR/ready-$port.json" "http://127.0.0.1:$port/health/ready"; then break; fi
    sleep 0.5
  done
  echo "   :$port /health/ready $(jq -c . "$BENCH_DIR/ready-$port.json")"
done
for worker in worker-1 worker-2; do
  until grep -q '"message": "worker-[12]@.* ready."' "$BENCH_DIR/$worker.log"; do sleep 0.5; done
done
awk -v s="$started" -v e="$(date +%s.%N)" \
  'BEGIN { printf "   all four ready after %.1f s (the first probe loads the HPO and the case index)\n", e - s }'

api() {  # api METHOD PORT PATH REQUEST_ID [BODY]
  curl -sS -X "$1" "http://127.0.0.1:$2/api/v1/$3" -H "Authorization: Token $API_KEY" \
    -H "X-Request-ID: $4" -H "Content-Type: application/json" ${5:+--data "$5"}
}
match() {  # match PORT GENE REQUEST_ID -> "yes"/"no": is the demo case among the results
  local body answer
  body="$(jq -cn --arg gene "$2" '{patient: {id: ("peer-" + $gene),
    contact: {name: "Dr Peer", href: "mailto:peer@example.org"},
    features: [{id: "HP:0001250"}, {id: "HP:0001263"}, {id: "HP:0000252"}, {id: "HP:0002167"}],
    genomicFeatures: [{gene: {id: $gene}}]}}')"
  answer="$(curl -sS "http://127.0.0.1:$1/mme/match" -H "X-Auth-Token: $PEER_TOKEN" \
    -H "X-Request-ID: $3" -H "Content-Type: application/vnd.ga4gh.matchmaker.v1.1+json" \
    -w '\n%{time_total}' --data "$body")"
  echo "   ($(echo "$answer" | head -1 | jq '.results | length') results in $(echo "$answer" | tail -1) s)" >&2
  echo "$answer" | head -1 | jq -r --arg id "$PUBLIC_ID" \
    'if any(.results[]; .patient.id == $id) then "yes" else "no" end'
}

step "A: a clinician's script creates a case (NGLY1, four features, consented)"
# A pseudonymous label (long digit runs are refused: they look like record numbers).
LABEL="scale-demo-$RANDOM-$RANDOM"
CREATED="$(api POST "$PORT_A" cases/ demo-create-on-a "$(jq -cn --arg name "$LABEL" '{label: $name,
  features: [{id: "HP:0001250"}, {id: "HP:0001263"}, {id: "HP:0000252"}, {id: "HP:0002167"}],
  genomicFeatures: [{gene: {id: "NGLY1"}}], externalMatchingConsent: true,
  contact: {name: "Dr A", href: "mailto:a@example.org"}}')")"
PUBLIC_ID="$(echo "$CREATED" | jq -r .publicId)"
if [ "$PUBLIC_ID" = null ]; then
  echo "   A refused the case: $CREATED" >&2
  exit 1
fi
echo "   created $PUBLIC_ID through A"
step "B: a peer asks B about an NGLY1 patient"
expect "B answers with the case A created" "$(match "$PORT_B" NGLY1 demo-match-on-b)" yes
step "B: the script replaces the case's gene (NGLY1 -> SCN1A) through B"
api GET "$PORT_B" "cases/$PUBLIC_ID/" demo-read-on-b |
  jq -c '.genomicFeatures = [{gene: {id: "SCN1A"}}]' >"$BENCH_DIR/changed.json"
expect "B's answer to the change" \
  "$(api PUT "$PORT_B" "cases/$PUBLIC_ID/" demo-update-on-b "$(cat "$BENCH_DIR/changed.json")" |
    jq -r '.genomicFeatures[0].gene.id')" SCN1A
expect "A still answers NGLY1 with it" "$(match "$PORT_A" NGLY1 demo-old-gene-on-a)" no
expect "A answers SCN1A with it" "$(match "$PORT_A" SCN1A demo-new-gene-on-a)" yes
step "B: the script withdraws the case through B"
expect "status" "$(api POST "$PORT_B" "cases/$PUBLIC_ID/withdraw/" demo-withdraw-on-b | jq -r .status)" withdrawn
expect "A answers SCN1A with it" "$(match "$PORT_A" SCN1A demo-after-withdrawal-on-a)" no

step "The tasks both web processes queued, from the workers' JSON logs"
tasks() {
  for worker in worker-1 worker-2; do
    grep -h '^{' "$BENCH_DIR/$worker.log" | jq -r --arg worker "$worker" \
      'select(.logger == "celery.app.trace" and (.message | contains(" succeeded in ")))
       | [$worker, (.task_name | split(".") | last), .request_id,
          (.message | capture("succeeded in (?<s>[0-9.]+)s").s)] | @tsv'
  done
}
for _ in $(seq 1 120); do
  ran="$(tasks | cut -f3 | sort -u | tr '\n' ' ')"
  if [[ "$ran" == *demo-create-on-a* && "$ran" == *demo-update-on-b* && "$ran" == *demo-match-on-b* && "$ran" == *demo-new-gene-on-a* ]]; then
    break
  fi
  sleep 0.5
done
{ printf 'worker\ttask\trequest id\tseconds\n'; tasks | sort -k3,3 -s; } | column -t -s $'\t' | sed 's/^/   /'
expect "workers that ran tasks" "$(tasks | cut -f1 | sort -u | tr '\n' ' ')" "worker-1 worker-2 "
expect "web processes whose tasks ran" \
  "$(tasks | cut -f3 | grep -o 'on-[ab]$' | sort -u | tr '\n' ' ')" "on-a on-b "

step "A's /metrics (counters shared through Redis: B's requests are counted too)"
curl -sS "http://127.0.0.1:$PORT_A/metrics" -H "Authorization: Bearer $METRICS_TOKEN" |
  grep -E '^matchmaker_(mme_requests_total\{peer="Scale Peer"|mme_request_duration_seconds_count|cases\{status="active"|matches|celery_task_failures_total|metrics_store_up)' |
  sed 's/^/   /'

step "Memory of each process (RSS) with the HPO, the gene catalogue and $CASES cases indexed"
for pair in "web A:$(pgrep -P "$WEB_A" | head -1)" "web B:$(pgrep -P "$WEB_B" | head -1)" \
  "worker-1:${WORKERS[0]}" "worker-2:${WORKERS[1]}"; do
  name="${pair%%:*}"
  pid="${pair#*:}"
  printf '   %-9s %6.0f MB\n' "$name" "$(($(ps -o rss= -p "$pid") / 1024))"
done

if [ "$failures" -ne 0 ]; then
  printf '\n%d unexpected answers; logs in %s\n' "$failures" "$BENCH_DIR"
  exit 1
fi
printf '\nAll answers as expected; logs in %s\n' "$BENCH_DIR"
