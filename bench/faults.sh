#!/usr/bin/env bash
# Fault runs under load (docs/benchmarks.md, "Faults"): Redis down, PostgreSQL restarted, a
# Celery worker killed, each on a node of its own (bench/faults.py says how). Prints one JSON
# line per scenario and a summary; exits non-zero when any work was lost.
#   bench/faults.sh                       # redis, postgres, worker
#   DURATION=60 OUTAGE=20 bench/faults.sh postgres
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"
DURATION="${DURATION:-45}"
OUTAGE="${OUTAGE:-15}"
scenarios=("$@")
if [ "${#scenarios[@]}" -eq 0 ]; then scenarios=(redis postgres worker); fi

status=0
summary=()
for scenario in "${scenarios[@]}"; do
  echo "== $scenario: ${DURATION} s of load, the fault for ${OUTAGE} s from $((${DURATION%.*} / 3)) s"
  line="$(python bench/faults.py "$scenario" --duration "$DURATION" --outage "$OUTAGE" | tail -n 1)" || status=1
  echo "$line"
  summary+=("$line")
done
echo "== summary (requests, errors, lost)"
printf '%s\n' "${summary[@]}" | python bench/faults.py summary
exit "$status"
