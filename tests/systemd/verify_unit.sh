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
# The stop must not be cut short by systemd: TimeoutStopSec (whole seconds) exceeds the drain
# window, server.shutdown_timeout of the shipped config (docs/api.md, "Drain at shutdown").
config=$(dirname "$unit_src")/../eventstreams.yaml
stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s$/\1/p' "$unit_src")
drain=$(sed -n 's/^  shutdown_timeout: \([0-9]*\)s$/\1/p' "$config")
if [[ -z "$stop" || -z "$drain" ]] || ((stop <= drain)); then
  echo "TimeoutStopSec (${stop:-?}s) must exceed server.shutdown_timeout (${drain:-?}s) of $config"
  exit 1
fi
echo "unit ok"
