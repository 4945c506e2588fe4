#!/usr/bin/env bash
# Re-scoring after an upgrade (docs/benchmarks.md, "Re-scoring after an upgrade"): on the MME load
# bench's database (100k synthetic cases; run bench/mme_load.sh once first), match the first
# MATCHED cases (300), mark their matches as scored by an earlier method, time
# `rescore_stale_matches` (what `manage.py match --stale` and the beat sweep run), then delete the
# local matches and the cases' record of their matching, so the load bench's database is left
# as it was.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"
CASES="${CASES:-100000}"
source "$ROOT/bench/_bench_db.sh"
bench_node_environment mme-load "${BENCH_DB:-matchmaker_mme_bench_$CASES}" \
  "${BENCH_DIR:-$ROOT/var/mme-bench-$CASES}"
export LOG_LEVEL=WARNING CASE_INDEX_SEARCH_THREADS=1 MATCHED="${MATCHED:-300}"
bench_prepare_database
python manage.py shell --verbosity 0 -c "
import os, time
from matchmaker.cases.models import Case
from matchmaker.casework.models import Match
from matchmaker.casework.services.matches import run_matching
from matchmaker.casework.services.rescoring import rescore_stale_matches, stale_matches

local = Match.objects.filter(direction=Match.Direction.LOCAL)
local.delete()
ids = list(Case.objects.filter(status='active').order_by('id').values_list('id', flat=True)[: int(os.environ['MATCHED'])])
started = time.perf_counter()
for case_id in ids:
    run_matching(case_id, notify=False)
elapsed = time.perf_counter() - started
print(f'{Case.objects.count():,} cases: matched {len(ids)} in {elapsed:.1f} s, {local.filter(removed_at__isnull=True).count():,} current local matches')
# As an earlier release left the matched cases: their own copies of each pair, and the basis
# of their matching. (The copies of the cases they found are left current: those cases were
# never matched themselves here, so the sweep leaves them alone.)
earlier = 'bma_jaccard_bridge, HPO 2025-01-16'
local.filter(case_id__in=ids).update(scored_with=earlier)
Case.objects.filter(pk__in=ids).update(matched_with=earlier)
stale = stale_matches().count()
started = time.perf_counter()
outcome = rescore_stale_matches(notify=False)
elapsed = time.perf_counter() - started
print(f'{stale:,} stale matches: {outcome.cases} cases redone in {elapsed:.1f} s ({1000 * elapsed / max(outcome.cases, 1):.0f} ms a case), {outcome.remaining} left')
local.delete()
Case.objects.filter(pk__in=ids).update(matched_with='')
"
