#!/usr/bin/env bash
# Build the libFuzzer targets of fuzz/ (clang, ASan + UBSan over the whole library) and run
# each for N seconds (default 60), starting from the committed seeds in fuzz/corpus/<target>.
# Prints libFuzzer's final line and execution count per target. Exits 1 when a target found
# something new (its input is saved as build/fuzz/artifacts/<target>/crash-*), and 3 when an
# input of the committed corpus (every past finding is there) fails again: a regression.
#   scripts/fuzz.sh [SECONDS] [TARGET...]    e.g. scripts/fuzz.sh 60   or   scripts/fuzz.sh 300 fuzz_ops
#   AG_JOBS=N                                build with N jobs (default 2)
# New inputs that grow coverage go to build/fuzz/corpus/<target> (kept between runs, not
# committed); fuzz/corpus holds only the seeds and the inputs of past findings.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

seconds="${1:-60}"
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds < 1)); then
  echo "fuzz.sh: SECONDS must be a positive integer, got '$seconds'" >&2
  exit 2
fi
all_targets=(fuzz_idx fuzz_csv fuzz_safetensors fuzz_optim_state fuzz_ops)
targets=("$@")
((${#targets[@]} > 0)) || targets=("${all_targets[@]}")
jobs="${AG_JOBS:-2}"
build=build/fuzz

AG_WITH_FUZZ=1 scripts/setup.sh

echo "== fuzz: configure and build (${targets[*]}) =="
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g" -DAG_BUILD_FUZZ=ON \
  -DAG_BUILD_TESTS=OFF -DAG_BUILD_APPS=OFF -DAG_BUILD_BENCH=OFF >/dev/null
build_args=()
for t in "${targets[@]}"; do build_args+=(--target "$t"); done
cmake --build "$build" -j "$jobs" "${build_args[@]}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export AG_NUM_THREADS="${AG_NUM_THREADS:-2}"

failed=()
regressions=()
summary=()
for t in "${targets[@]}"; do
  work="$build/corpus/$t" artifacts="$build/artifacts/$t" log="$build/logs/$t.log"
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  extra=()
  [[ -f "fuzz/dict/$t.dict" ]] && extra+=("-dict=fuzz/dict/$t.dict")
  echo "== $t: ${seconds} s (log: $log) =="
  rc=0
  "$build/fuzz/$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=4096 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "${extra[@]}" "$work" "fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  done_line=$(grep -E '^Done [0-9]+ runs' "$log" | tail -1 || true)
  if ((rc != 0)); then
    failed+=("$t")
    tail -40 "$log"
    # libFuzzer prints INITED once every corpus input has run: a finding before it is an
    # input of the corpus (fuzz/corpus holds every past finding) that fails again.
    if grep -q 'INITED' "$log"; then
      summary+=("$t: FINDING after ${runs:-?} executions (exit $rc); input in $artifacts/")
    else
      regressions+=("$t")
      summary+=("$t: REGRESSION: a corpus input fails again (exit $rc); input in $artifacts/")
    fi
  else
    summary+=("$t: ${runs:-?} executions — ${done_line:-no final line}")
  fi
  echo "${summary[-1]}"
done

echo "== fuzz summary (${seconds} s per target) =="
printf '%s\n' "${summary[@]}"
if ((${#regressions[@]} > 0)); then
  echo "fuzz.sh: regressions in ${regressions[*]}"
  exit 3
fi
if ((${#failed[@]} > 0)); then
  echo "fuzz.sh: findings in ${failed[*]}"
  exit 1
fi
echo "fuzz.sh: no findings"
