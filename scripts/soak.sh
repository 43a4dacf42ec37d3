#!/usr/bin/env bash
# Soak: run a test file N times in a row while every core is kept busy by CPU burners, and stop
# at the first failing round (exit status 1). For races that show only on a loaded machine.
#
#   scripts/soak.sh [ROUNDS] [PYTEST ARGS...]
#   make soak SOAK_ROUNDS=20 SOAK_TESTS=tests/integration/test_listener_faults.py
#
# ROUNDS defaults to 20, the tests to tests/integration/test_listener_faults.py; SOAK_BURNERS
# (default: the number of cores) busy loops run meanwhile. Uses TEST_REDIS_URL /
# TEST_DATABASE_URL like `make test`; each round's output goes to var/soak/round-N.log.
set -uo pipefail
cd "$(dirname "$0")/.."

rounds="${1:-20}"
shift || true
[ "$#" -gt 0 ] || set -- tests/integration/test_listener_faults.py
burners="${SOAK_BURNERS:-$(nproc)}"
pytest="${PYTEST:-.venv/bin/pytest}"
logs=var/soak
mkdir -p "$logs"

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    wait 2>/dev/null
}
trap cleanup EXIT INT TERM

for _ in $(seq "$burners"); do
    ( while :; do :; done ) &
    pids+=("$!")
done
echo "soak: $rounds rounds of $* with $burners CPU burners (pids ${pids[*]})"

start=$(date +%s)
for round in $(seq "$rounds"); do
    log="$logs/round-$round.log"
    t0=$(date +%s)
    if "$pytest" "$@" >"$log" 2>&1; then
        echo "round $round/$rounds: passed in $(( $(date +%s) - t0 ))s ($(tail -n 1 "$log"))"
    else
        echo "round $round/$rounds: FAILED after $(( $(date +%s) - t0 ))s; output in $log:"
        tail -n 60 "$log"
        exit 1
    fi
done
echo "soak: all $rounds rounds passed in $(( $(date +%s) - start ))s"
