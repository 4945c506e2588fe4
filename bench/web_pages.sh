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
source "$ROOT/bench/_bench_db.sh"
bench_node_environment web-pages "$BENCH_DB" "$BENCH_DIR"
export ALLOWED_HOSTS=testserver
export LOG_LEVEL=WARNING
unset REDIS_URL

bench_prepare_database
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
from matchmaker.casework.models import Match
from matchmaker.casework.services.matches import run_matching
missing = $MATCHED - Match.objects.values('case').distinct().count()
for case_id in Case.objects.order_by('id').values_list('id', flat=True)[: max(missing, 0)]:
    run_matching(case_id, notify=False)
print(Match.objects.count(), 'matches')"
psql -h "$POSTGRES_HOST" -U "$POSTGRES_USER" -d "$BENCH_DB" -qc "VACUUM ANALYZE"
python bench/web_pages.py "$@"
