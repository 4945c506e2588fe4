#!/usr/bin/env bash
# The clinicians' pages at 100k cases (docs/benchmarks.md, "Web pages at 100k cases"): a
# PostgreSQL database with CASES synthetic cases owned by one institution and its clinician
# (bench-clinician), local matching run for MATCHED of them (each local match is stored for
# both of its cases, so about ten times as many cases end up with matches), then
# bench/web_pages.py, whose arguments (--runs N) follow ours. Exits non-zero when a page misses
# its target. Safe to run again: the database, the cases and their matches are reused.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"

CASES="${CASES:-100000}"
MATCHED="${MATCHED:-300}"
BENCH_DB="${BENCH_DB:-matchmaker_web_bench_$CASES}"
BENCH_DIR="${BENCH_DIR:-$ROOT/var/web-bench-$CASES}"
env -u DATA_DIR "$ROOT/scripts/fetch-reference-data"
mkdir -p "$BENCH_DIR"
if [ -d "$ROOT/var/reference" ] && [ ! -e "$BENCH_DIR/reference" ]; then
  ln -s "$ROOT/var/reference" "$BENCH_DIR/reference"
fi

export POSTGRES_HOST="${POSTGRES_HOST:-127.0.0.1}"
export POSTGRES_USER="${POSTGRES_USER:-postgres}"
export POSTGRES_DB="$BENCH_DB"
export DATA_DIR="$BENCH_DIR"
# Production behaviour: no per-query SQL log, templates cached. No system checks run here.
export DEBUG=False
export SECRET_KEY="web-pages-bench-only-not-a-secret"
export SECURE_SSL_REDIRECT=False
export ALLOWED_HOSTS=testserver
export EMAIL_BACKEND=django.core.mail.backends.dummy.EmailBackend
export LOG_LEVEL=WARNING
unset REDIS_URL

if ! psql -h "$POSTGRES_HOST" -U "$POSTGRES_USER" -d postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname = '$BENCH_DB'" | grep -q 1; then
  echo "Creating database $BENCH_DB"
  createdb -h "$POSTGRES_HOST" -U "$POSTGRES_USER" "$BENCH_DB"
fi
python manage.py migrate --no-input --verbosity 0
python manage.py load_hpo
python manage.py load_genes --if-missing
python manage.py shell --verbosity 0 -c "from django.contrib.auth.models import User
from matchmaker.cases.models import Membership
from matchmaker.cases.services import ensure_institution
user, _ = User.objects.get_or_create(username='bench-clinician')
Membership.objects.get_or_create(user=user, defaults={'institution': ensure_institution('Bench Hospital')})"
python manage.py generate_cases "$CASES" --institution "Bench Hospital" --owner bench-clinician \
  --consented --if-empty --seed 1
if [ ! -s "${CASE_INDEX_PATH:-$DATA_DIR/case-index.npz}" ]; then
  python manage.py build_index
fi
# Matches for a sample of the cases, as the matching task records them after an edit. Counted
# by the cases holding matches, so a second run does not match again.
python manage.py shell --verbosity 0 -c "from matchmaker.cases.models import Case
from matchmaker.matching.models import Match
from matchmaker.matching.services import run_matching
missing = $MATCHED - Match.objects.values('case').distinct().count()
for case_id in Case.objects.order_by('id').values_list('id', flat=True)[: max(missing, 0)]:
    run_matching(case_id, notify=False)
print(Match.objects.count(), 'matches')"
psql -h "$POSTGRES_HOST" -U "$POSTGRES_USER" -d "$BENCH_DB" -qc "VACUUM ANALYZE"
python bench/web_pages.py "$@"
