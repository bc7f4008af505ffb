#!/usr/bin/env bash
# Builds the "fuzz" preset and runs every libFuzzer target for SECONDS (default 20) over a copy
# of its seed corpus in a temporary directory, so the repository is never modified.
# Prints one summary line per target; exits non-zero if any target crashed, leaked, timed out
# or failed to build. Usage: fuzz/run.sh [SECONDS]
set -euo pipefail

seconds="${1:-20}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds < 1)); then
  echo "usage: $0 [SECONDS]  (a positive integer, default 20)" >&2
  exit 2
fi

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source_dir="$(dirname "$fuzz_dir")"
build_dir="$source_dir/build/fuzz"
targets=(fuzz_last_event_id fuzz_since fuzz_config fuzz_route fuzz_splice_meta fuzz_stream_config
         fuzz_filter fuzz_replay)

cd "$source_dir"
# Bounded: a cold build of the core and the targets takes a few minutes at most.
timeout 1200 cmake --preset fuzz >/dev/null
timeout 1200 cmake --build --preset fuzz -j "$(nproc)" --target fuzzers

work="$(mktemp -d "${TMPDIR:-/tmp}/eventstreams-fuzz.XXXXXX")"
keep_work=0
cleanup() {
  if ((keep_work == 0)); then
    rm -rf "$work"
  fi
}
trap cleanup EXIT

export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1"

# One target: writes its summary line to $work/$target/summary, and "failed" there on failure.
run_target() {
  local target="$1" corpus="$work/$1/corpus" seeds args log status runs final artifact
  mkdir -p "$corpus"
  cp -R "$fuzz_dir/corpus/$target/." "$corpus/"
  seeds="$(find "$corpus" -type f | wc -l)"
  args=(-max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$work/$target/")
  if [[ -f "$fuzz_dir/$target.dict" ]]; then
    args+=(-dict="$fuzz_dir/$target.dict")
  fi
  echo "running $target for ${seconds}s ..." >&2
  log="$work/$target/log.txt"
  status=0
  # libFuzzer stops itself after max_total_time; the outer timeout is a backstop for a hang
  # outside its control (e.g. in the final leak check).
  timeout --kill-after=10 $((seconds + 60)) "$build_dir/fuzz/$target" "${args[@]}" "$corpus" \
    >"$log" 2>&1 || status=$?
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  final="$(find "$corpus" -type f | wc -l)"
  if ((status == 0)); then
    printf '%-20s ok    %10s runs in %ss, corpus %s -> %s\n' \
      "$target" "${runs:-?}" "$seconds" "$seeds" "$final" >"$work/$target/summary"
  else
    touch "$work/$target/failed"
    artifact="$(find "$work/$target" -maxdepth 1 -type f \
      \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | head -n 1)"
    printf '%-20s FAIL  exit %s after %s runs; log %s; reproducer %s\n' \
      "$target" "$status" "${runs:-?}" "$log" "${artifact:-none}" >"$work/$target/summary"
    grep -m 5 -E 'ERROR: |runtime error|invariant violated|SUMMARY' "$log" >&2 || true
  fi
}

# As many targets at once as there are cores: each libFuzzer process uses one.
parallel="$(nproc)"
running=0
for target in "${targets[@]}"; do
  if ((running >= parallel)); then
    wait -n || true
    running=$((running - 1))
  fi
  run_target "$target" &
  running=$((running + 1))
done
wait

failed=0
summary=()
for target in "${targets[@]}"; do
  summary+=("$(cat "$work/$target/summary" 2>/dev/null || echo "$target: no result")")
  if [[ -f "$work/$target/failed" || ! -f "$work/$target/summary" ]]; then
    failed=1
    keep_work=1
  fi
done

echo
echo "== fuzz summary (${seconds}s per target) =="
printf '%s\n' "${summary[@]}"
if ((failed != 0)); then
  echo "failures kept in $work" >&2
  exit 1
fi
