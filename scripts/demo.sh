#!/usr/bin/env bash
# Build the release preset and run the autograd tour: the classic PyTorch autograd
# tutorial, written with ag. Arguments are passed to the program.
#   AG_JOBS=N scripts/demo.sh    build with N jobs (default 2)
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

scripts/setup.sh >&2
cmake --preset release >&2
# Build just the program when the build knows it (faster than the whole tree).
targets=$(cmake --build --preset release --target help 2>/dev/null || true)
if grep -q '^\.\.\. autograd_tour$' <<<"$targets"; then
  cmake --build --preset release -j "${AG_JOBS:-2}" --target autograd_tour >&2
else
  cmake --build --preset release -j "${AG_JOBS:-2}" >&2
fi

program=build/release/apps/autograd_tour
if [[ ! -x "$program" ]]; then
  echo "demo.sh: $program was not built (apps/autograd_tour is not in this checkout yet)" >&2
  exit 1
fi
exec "$program" "$@"
