#!/usr/bin/env bash
# Build the release preset and run the main demo, apps/backprop_demo: the sigmoid
# two-layer network's derivatives three ways (chain rule, finite differences, autograd),
# then the classic training loop with gradient accumulation and train/eval modes on
# Fashion-MNIST (from the Debian package). Arguments go to the program, e.g.
#   scripts/demo.sh --data xor        no data set needed
#   scripts/demo.sh --tour            the autograd tour (apps/autograd_tour) instead
#   AG_JOBS=N scripts/demo.sh         build with N jobs (default 2)
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

program=backprop_demo
if [[ "${1:-}" == "--tour" ]]; then
  program=autograd_tour
  shift
fi

scripts/setup.sh >&2
cmake --preset release >&2
cmake --build --preset release -j "${AG_JOBS:-2}" --target "$program" >&2

exe=build/release/apps/$program
if [[ ! -x "$exe" ]]; then
  echo "demo.sh: $exe was not built" >&2
  exit 1
fi
exec "$exe" "$@"
