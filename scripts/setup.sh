#!/usr/bin/env bash
# Install the Debian packages that building and testing ag needs (Debian 12).
# Does nothing, not even `apt-get update`, when every package is already installed.
#   AG_WITH_REFERENCES=1 scripts/setup.sh   also installs the references bench/ measures against:
#                                           OpenBLAS (GEMM) and libtorch (training steps)
#   AG_WITH_FUZZ=1 scripts/setup.sh         also installs clang, libFuzzer (libclang-rt-14-dev)
#                                           and llvm-symbolizer, for scripts/fuzz.sh
set -euo pipefail

packages=(
  build-essential cmake ccache pkg-config
  libtbb-dev libxsimd-dev libgtest-dev libbenchmark-dev zlib1g-dev
  libcli11-dev nlohmann-json3-dev
  dataset-fashion-mnist gnuplot-nox
)
if [[ "${AG_WITH_REFERENCES:-0}" == 1 ]]; then
  packages+=(libopenblas-dev libtorch-dev)
fi
if [[ "${AG_WITH_FUZZ:-0}" == 1 ]]; then
  packages+=(clang libclang-rt-14-dev llvm)
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "setup.sh: dpkg-query not found; this script targets Debian 12. Install by hand: ${packages[*]}" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "setup.sh: all ${#packages[@]} packages present"
  exit 0
fi

sudo=()
if [[ "$(id -u)" != 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "setup.sh: missing packages (${missing[*]}) and not root, no sudo; install them as root" >&2
    exit 1
  fi
fi

echo "setup.sh: installing ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
