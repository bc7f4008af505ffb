#!/usr/bin/env bash
# End-to-end with curl, a real third-party client: read a demo stream, resume it with the
# last id, and check that the second read continues exactly where the first stopped.
set -euo pipefail
binary=$1
dir=$(mktemp -d)
pid=""
cleanup() {
  rm -rf "$dir"
}
trap cleanup EXIT
# Stops the daemon with SIGTERM and fails unless it exits 0 within 15 s.
stop_daemon() {
  kill -TERM "$pid"
  for _ in $(seq 150); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" && return 0
      echo "daemon exited with status $?"; cat "$dir/stderr"; return 1
    fi
    sleep 0.1
  done
  echo "daemon did not exit within 15 s of SIGTERM"; tail -20 "$dir/stderr"
  kill -KILL "$pid"; return 1
}

cat > "$dir/config.yaml" <<YAML
server: {listen: "127.0.0.1:0", heartbeat_interval: 1s}
kafka:
  bootstrap_servers: embedded
  properties: {fetch.wait.max.ms: 20}
  embedded: {brokers: 1, partitions: 2, demo_rate: 100}
streams:
  recentchange: {topics: [eqiad.rc, codfw.rc], aliases: [rc]}
YAML
"$binary" --config "$dir/config.yaml" > "$dir/stdout" 2> "$dir/stderr" &
pid=$!
port=""
for _ in $(seq 200); do  # up to 20 s for the listening line
  port=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$dir/stdout")
  [[ -n "$port" ]] && break
  kill -0 "$pid" || { cat "$dir/stderr"; exit 1; }
  sleep 0.1
done
[[ -n "$port" ]] || { echo "daemon did not start"; cat "$dir/stderr"; exit 1; }

# First read: stop after 30 events (curl ends when head closes the pipe).
curl -sN --max-time 20 "http://127.0.0.1:$port/v2/stream/rc" | grep -m 60 -E '^(id|data): ' \
  > "$dir/first" || true
# The id of the last event whose data arrived (the stream opens with an id-only block of the
# start positions, and the last id line read may be one whose data line was not).
last_id=$(awk '/^id: /{id=substr($0, 5); next} /^data: /{last=id} END{print last}' "$dir/first")
[[ -n "$last_id" ]] || { echo "no event received"; exit 1; }

# Second read, resumed with the last id.
curl -sN --max-time 20 -H "Last-Event-ID: $last_id" "http://127.0.0.1:$port/v2/stream/rc" \
  | grep -m 60 -E '^(id|data): ' > "$dir/second" || true

python3 - "$dir/first" "$dir/second" "$last_id" <<'PY'
import json, sys
def events(path):
    out = []
    for line in open(path):
        if line.startswith("data: "):
            meta = json.loads(line[6:])["meta"]
            out.append((meta["topic"], meta["partition"], meta["offset"]))
    return out
first, second = events(sys.argv[1]), events(sys.argv[2])
last_id = {(e["topic"], e["partition"]): e["offset"] for e in json.loads(sys.argv[3])}
assert len(first) >= 25 and len(second) >= 25, (len(first), len(second))
assert len(last_id) == 4, last_id  # 2 topics x 2 partitions, every one with a concrete offset
seen = {}
for t, p, o in first + second:
    if (t, p) in seen:
        assert o == seen[(t, p)] + 1, f"gap or repeat in {t}/{p}: {seen[(t, p)]} -> {o}"
    seen[(t, p)] = o
for t, p, o in second:
    # The first event of each partition after the resume is exactly the id's next offset.
    if (t, p) in last_id:
        assert o == last_id[(t, p)], f"{t}/{p} resumed at {o}, id said {last_id[(t, p)]}"
        del last_id[(t, p)]
print(f"curl e2e ok: {len(first)} + {len(second)} events, contiguous per partition")
PY
stop_daemon
