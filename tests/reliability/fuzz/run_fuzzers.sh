#!/usr/bin/env bash
# run_fuzzers.sh BUILD_DIR [SECONDS]: runs every libFuzzer binary built in BUILD_DIR (a tree
# configured with WEFT_BUILD_FUZZERS=ON) for SECONDS each (default $WEFT_FUZZ_SECONDS or 45),
# starting from its checked-in corpus. The corpus in the source tree is never modified: new
# inputs go to BUILD_DIR/fuzz-work/NAME/corpus, crashes to BUILD_DIR/fuzz-work/NAME/crash-*.
# Prints one `WEFT_FIGURE {json}` line per target (also appended to BUILD_DIR/fuzz-work/
# figures.txt for tests/reliability/make_report.py). Exits non-zero if any target crashed.
set -euo pipefail
build=$(cd "$1" && pwd)
seconds=${2:-${WEFT_FUZZ_SECONDS:-45}}
here=$(cd "$(dirname "$0")" && pwd)
work=$build/fuzz-work
rm -rf "$work" && mkdir -p "$work"
failed=0
for corpus in "$here"/corpus/*/; do
  name=$(basename "$corpus")
  fuzzer=$(find "$build" -type f -name "${name}_fuzzer" -perm -u+x | head -n1)
  [ -n "$fuzzer" ] || { echo "run_fuzzers: ${name}_fuzzer is not built in $build" >&2; exit 2; }
  mkdir -p "$work/$name/corpus"
  seeds=$(find "$corpus" -type f | wc -l)
  log=$work/$name/fuzz.log
  echo "run_fuzzers: $name for ${seconds}s from $seeds seeds" >&2
  rc=0
  # -timeout: an input taking over 25 s is a hang (every input here takes milliseconds; the margin
  # is for a loaded machine); -rss_limit_mb bounds memory per input.
  "$fuzzer" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/$name/" "$work/$name/corpus" "$corpus" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2)
  found=$(find "$work/$name/corpus" -type f | wc -l)
  crashes=$(find "$work/$name" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 -name 'timeout-*' \
    -o -maxdepth 1 -name 'oom-*' | wc -l)
  result=pass
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    result=fail
    failed=1
    tail -n 60 "$log" >&2
  fi
  line=$(printf 'WEFT_FIGURE {"scenario":"fuzz: %s","load":"libFuzzer+ASan+UBSan, %ss from %s seeds","fault":"mutated input","figure":"%s executions, %s coverage edges, %s new inputs, %s crashes, peak RSS %s MB","result":"%s"}' \
    "$name" "$seconds" "$seeds" "${execs:-0}" "${cov:-0}" "$found" "$crashes" "${rss:-?}" "$result")
  echo "$line"
  echo "$line" >>"$work/figures.txt"
done
exit $failed
