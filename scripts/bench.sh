#!/usr/bin/env bash
# Run the benchmarks that speak to threads and write one report:
#   build/bench-report/report.md   the machine, the kernel target, the commit, then
#                                  bench_threads' table (speed-ups against 1 thread, the
#                                  serial fraction, predictions at 4-16 threads),
#                                  bench_gemm's table (against OpenBLAS when installed),
#                                  and bench_scheduler's rows
#   build/bench-report/speedup.png speed-up against threads per workload: measured
#                                  points beside the predicted curve
# Quiet machine first: every figure is a ratio measured in one process, but a busy
# machine still moves them. Takes a few minutes on 2 cores.
#   AG_BENCH_THREADS=N scripts/bench.sh     measure N threads against 1 (default: all cores)
#   AG_BENCH_PAIRS=P scripts/bench.sh       alternating pairs per workload (default 30)
#   AG_WITH_REFERENCES=1 scripts/bench.sh   also installs OpenBLAS and libtorch first
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

scripts/setup.sh >&2
cmake --preset release >&2
cmake --build --preset release -j "${AG_JOBS:-2}" --target bench_threads bench_gemm bench_scheduler >&2

out=build/bench-report
mkdir -p "$out"
threads="${AG_BENCH_THREADS:-$(nproc)}"
((threads >= 2)) || threads=2
pairs="${AG_BENCH_PAIRS:-30}"
bin=build/release/bench

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
  "$bin/bench_gemm" --benchmark_min_time=0.2 2>/dev/null | sed -n '/^ag SIMD/,$p'
  echo
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
set title 'Speed-up against 1 thread: measured (points) and predicted from the serial fraction (lines)'
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
     x with lines dt 2 lc rgb 'gray' title 'linear'
GP
  echo "bench.sh: wrote $out/report.md and $out/speedup.png"
else
  echo "bench.sh: wrote $out/report.md (gnuplot not found: no plot)"
fi
