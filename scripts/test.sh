#!/usr/bin/env bash
# Build and test ag: the full suite in the `release` preset, then the tests labeled
# `threads` under ThreadSanitizer (`tsan` preset). A failing build stops at once; failing
# tests are reported and the next step still runs. Exits non-zero on any failure.
#   AG_JOBS=N scripts/test.sh    build with N jobs (default 2)
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

jobs="${AG_JOBS:-2}"
start=$SECONDS
failed=()

scripts/setup.sh

echo "== release: configure, build, test =="
cmake --preset release
cmake --build --preset release -j "$jobs"
ctest --preset release || failed+=("release tests")

echo "== tsan: tests labeled 'threads' =="
cmake --preset tsan
# ag_test() names each test after its executable target, so the labeled tests name the
# targets to build; if building them alone fails, build everything.
mapfile -t thread_tests < <(ctest --preset tsan -N -L threads | sed -n 's/^ *Test *#[0-9]*: *\([^ ]*\).*/\1/p')
if ((${#thread_tests[@]} == 0)); then
  echo "tsan: no test is labeled 'threads'; nothing to run"
else
  targets=()
  for t in "${thread_tests[@]}"; do targets+=(--target "$t"); done
  if ! cmake --build --preset tsan -j "$jobs" "${targets[@]}"; then
    echo "tsan: building ${thread_tests[*]} alone failed; building everything"
    cmake --build --preset tsan -j "$jobs"
  fi
  ctest --preset tsan -L threads || failed+=("tsan tests")
fi

elapsed=$((SECONDS - start))
if ((${#failed[@]} > 0)); then
  printf 'test.sh: FAILED: %s (%d s)\n' "$(IFS=,; echo "${failed[*]}")" "$elapsed"
  exit 1
fi
echo "test.sh: all passed (${elapsed} s)"
