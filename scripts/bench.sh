#!/usr/bin/env bash
# Run the benchmarks that speak to threads and write one report:
#   build/bench-report/report.md     the machine, the kernel target, the commit, then
#                                    bench_threads' table (speed-ups against 1 thread, the
#                                    ceiling of N independent copies, the scaling model and
#                                    its predictions at 4-16 threads), bench_gemm's table
#                                    (against OpenBLAS when installed, its AVX-512 kernels
#                                    forced on an AVX-512 CPU), compare_torch's table (ag
#                                    against libtorch, when installed) and bench_scheduler
#   build/bench-report/speedup.png   speed-up against threads per workload: measured points
#                                    and the ceiling beside the predicted curve
#   build/bench-report/vs_torch.png  ag's time over libtorch's per workload, 1 and N threads
#                                    (when libtorch is installed)
# Quiet machine first: every figure is a ratio measured in one process, but a busy
# machine still moves them. Takes a few minutes on 2 cores (10 more with libtorch).
#   AG_BENCH_THREADS=N scripts/bench.sh     measure N threads against 1 (default: all cores)
#   AG_BENCH_PAIRS=P scripts/bench.sh       alternating rounds per workload (default 30)
#   AG_WITH_REFERENCES=1 scripts/bench.sh   also installs OpenBLAS and libtorch first
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

scripts/setup.sh >&2
cmake --preset release >&2
targets=(bench_threads bench_gemm bench_scheduler)
# compare_torch exists only where CMake found libtorch (bench/CMakeLists.txt). grep -c reads
# all of the list: grep -q would stop early, and under pipefail the SIGPIPE fails the test.
if cmake --build --preset release --target help 2>/dev/null | grep -c '^\.\.\. compare_torch$' >/dev/null; then
  targets+=(compare_torch)
fi
cmake --build --preset release -j "${AG_JOBS:-2}" --target "${targets[@]}" >&2

out=build/bench-report
mkdir -p "$out"
threads="${AG_BENCH_THREADS:-$(nproc)}"
((threads >= 2)) || threads=2
pairs="${AG_BENCH_PAIRS:-30}"
bin=build/release/bench
# OpenBLAS picks its AVX2 kernels on some AVX-512 CPUs (bench/README.md); compare with its best.
blas_note="OpenBLAS chooses its own kernels"
if grep -qw avx512f /proc/cpuinfo; then
  export OPENBLAS_CORETYPE=SkylakeX
  blas_note="OpenBLAS's AVX-512 kernels forced (OPENBLAS_CORETYPE=SkylakeX)"
fi

{
  echo "# ag benchmark report"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) hardware threads"
  echo
  echo "## Threads (bench_threads)"
  echo
  "$bin/bench_threads" --threads "$threads" --pairs "$pairs" --csv "$out/threads.csv"
  echo
  echo "## GEMM (bench_gemm)"
  echo
  echo "$blas_note."
  echo
  "$bin/bench_gemm" --benchmark_min_time=0.2 2>/dev/null | sed -n '/^ag SIMD/,$p'
  echo
  if [[ -x "$bin/compare_torch" ]]; then
    echo "## ag against libtorch (compare_torch)"
    echo
    "$bin/compare_torch" --only mlp256,mlp1024,net,chain --threads "1,$threads" 2>/dev/null | sed -n '/^| workload/,$p' |
      tee "$out/torch.md"
    echo
  else
    echo "(libtorch not installed: no comparison with it; AG_WITH_REFERENCES=1 scripts/bench.sh installs it.)"
    echo
    rm -f "$out/torch.md"
  fi
  echo "## Scheduler (bench_scheduler)"
  echo
  echo '```'
  "$bin/bench_scheduler" 2>/dev/null | grep -E '^(BM_|Benchmark|-)'
  echo '```'
} > "$out/report.md"

if command -v gnuplot >/dev/null 2>&1; then
  # One column per workload: measured speed-ups as points, the prediction as a line.
  gnuplot <<GP
set terminal png size 1100,560 noenhanced
set output '$out/speedup.png'
set datafile separator ','
set title 'Speed-up against 1 thread: measured (filled), N independent copies (open: the ceiling), the model (lines)'
set xlabel 'threads'
set ylabel 'speed-up'
set logscale xy 2
set xrange [0.9:18]
set yrange [0.8:18]
set key outside right
set grid
workloads = system("tail -n +2 '$out/threads.csv' | cut -d, -f1 | uniq | tr '\n' ' '")
plot for [i=1:words(workloads)] '$out/threads.csv' using (strcol(1) eq word(workloads, i) && strcol(4) eq 'predicted' ? \$2 : 1/0):3 with lines lw 2 lc i title word(workloads, i).' (predicted)', \
     for [i=1:words(workloads)] '$out/threads.csv' using (strcol(1) eq word(workloads, i) && strcol(4) eq 'measured' ? \$2 : 1/0):3 with points pt 7 ps 1.5 lc i title word(workloads, i).' (measured)', \
     for [i=1:words(workloads)] '$out/threads.csv' using (strcol(1) eq word(workloads, i) && strcol(4) eq 'ceiling' ? \$2 : 1/0):3 with points pt 6 ps 2 lc i notitle, \
     x with lines dt 2 lc rgb 'gray' title 'linear'
GP
  written="$out/report.md and $out/speedup.png"
  if [[ -s "$out/torch.md" ]]; then
    # workload,threads,ratio from compare_torch's table (ratio = ag time / libtorch time); a
    # comma in a workload's name becomes a semicolon.
    awk -F'|' 'NR > 2 && NF > 6 { gsub(/^ +| +$/, "", $2); gsub(/,/, ";", $2); gsub(/ /, "", $3); gsub(/ /, "", $6); print $2 "," $3 "," $6 }' \
      "$out/torch.md" > "$out/torch.csv"
    gnuplot <<GP
set terminal png size 1100,520 noenhanced
set output '$out/vs_torch.png'
set datafile separator ','
set title 'ag time / libtorch time per training step (below 1: ag is faster), 1 and $threads threads'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel 'ag / libtorch'
set yrange [0:*]
set grid y
set key top left
set xtics rotate by -20
plot '< grep ",1," $out/torch.csv' using 3:xtic(1) title '1 thread', \
     '< grep ",$threads," $out/torch.csv' using 3 title '$threads threads'
GP
    written="$written and $out/vs_torch.png"
  fi
  echo "bench.sh: wrote $written"
else
  echo "bench.sh: wrote $out/report.md (gnuplot not found: no plot)"
fi
