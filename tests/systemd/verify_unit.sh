#!/usr/bin/env bash
# systemd-analyze verify on the shipped unit, with its paths pointed at the built binary
# (verify checks that ExecStart exists and is executable).
set -euo pipefail
unit_src=$1
binary=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s|/usr/bin/eventstreams|$binary|g" "$unit_src" > "$dir/eventstreams.service"
out=$(systemd-analyze verify "$dir/eventstreams.service" 2>&1) || { echo "$out"; exit 1; }
# verify exits 0 on some warnings; any line naming our unit is a finding.
if grep -q 'eventstreams.service' <<<"$out"; then
  echo "$out"
  exit 1
fi
echo "unit ok"
