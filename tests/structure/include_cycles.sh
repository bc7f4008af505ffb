#!/usr/bin/env bash
# Fails when the #include graph between the directories of src/ (app/, http/, sse/, ...) has a
# cycle. An edge a -> b is a file under src/a/ with `#include "b/..."`; includes without a
# directory (same directory) and of include/eventstreams/ are not edges.
#   include_cycles.sh SRC_DIR     check SRC_DIR (exit 1 and the loop on a cycle)
#   include_cycles.sh --self-test check that a cyclic tree fails and an acyclic one passes
set -euo pipefail

# Prints "from to" for every edge between directories of $1.
edges() {
  local src=$1 dir from to
  for dir in "$src"/*/; do
    from=$(basename "$dir")
    echo "$from $from"  # every directory is a node, even one without edges
    { grep -rhoE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"/]+/' "$dir" || true; } |
      sed -E 's/.*"([^"/]+)\/$/\1/' | sort -u |
      while read -r to; do
        if [[ "$to" != "$from" && -d "$src/$to" ]]; then
          echo "$from $to"
        fi
      done
  done
}

# Exit status 0 when the graph of $1 is acyclic; the loop on stderr otherwise.
check() {
  local src=$1 out
  if ! out=$(edges "$src" | tsort 2>&1 >/dev/null); then
    echo "include cycle between directories of $src:" >&2
    echo "$out" | sed -n 's/^tsort: //p' | grep -v 'input contains a loop' >&2 || true
    echo "edges:" >&2
    edges "$src" | awk '$1 != $2' | sort >&2
    return 1
  fi
  return 0
}

self_test() {
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$tmp/src/a" "$tmp/src/b" "$tmp/src/c"
  printf '#include "b/y.hpp"\n' >"$tmp/src/a/x.hpp"
  printf '#include <vector>\n#include "c/z.hpp"\n#include "eventstreams/config.hpp"\n' \
    >"$tmp/src/b/y.hpp"
  printf '#include "local.hpp"\n' >"$tmp/src/c/z.hpp"
  if ! check "$tmp/src" 2>/dev/null; then
    echo "self-test: an acyclic tree (a -> b -> c) was reported as cyclic" >&2
    return 1
  fi
  printf '  #  include "a/x.hpp"\n' >"$tmp/src/c/z.cpp"
  if check "$tmp/src" 2>/dev/null; then
    echo "self-test: the cycle a -> b -> c -> a was not detected" >&2
    return 1
  fi
  echo "self-test passed"
}

case "${1:-}" in
  --self-test) self_test ;;
  "") echo "usage: $0 SRC_DIR | --self-test" >&2; exit 2 ;;
  *) check "$1" && echo "no include cycle between the directories of $1" ;;
esac
