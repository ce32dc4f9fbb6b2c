#!/usr/bin/env bash
# The review page under the daemon, which serves it through a memscope-engine process
# of its own: how long the first review request takes (the engine starts: libtorch
# loads, the run opens), and the median of 21 calls of each request once it runs,
# beside the same requests to `memscope review` of the same run (no forwarding). Also
# the first request again after the idle engine ended, and the memory of each
# process. The run is a daemon job: digits (1,797 samples), 3 epochs.
#
#   bench/review_daemon.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${CARGO_TARGET_DIR:-target}/release/memscope"
test -x "$BIN" || cargo build --release --workspace
work=$(mktemp -d)
daemon= server=
trap '[[ -n "$daemon" ]] && kill "$daemon" 2>/dev/null; [[ -n "$server" ]] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
daemon_url="http://127.0.0.1:$port"
printf 'listen = "127.0.0.1:%s"\nstate_dir = "state"\nreview_idle_seconds = 2\n' "$port" > "$work/daemon.toml"
"$BIN" daemon --config "$work/daemon.toml" 2> "$work/daemon.log" &
daemon=$!
until curl -sf "$daemon_url/healthz" > /dev/null; do sleep 0.1; done
printf 'name = "bench"\nseed = 0\nthreads = 2\n[data]\nformat = "digits"\n[train]\nepochs = 3\n[score]\nbuiltin = ["loss"]\n' > "$work/job.toml"
id=$("$BIN" submit "$work/job.toml" --server "$daemon_url" 2> /dev/null)
until "$BIN" status "$id" --server "$daemon_url" | grep -q completed; do
    "$BIN" status "$id" --server "$daemon_url" | grep -Eq 'failed|cancelled' && { cat "$work/daemon.log"; exit 1; }
    sleep 0.5
done
run=$("$BIN" status "$id" --json --server "$daemon_url" | python3 -c 'import json, sys; print(json.load(sys.stdin)["run_dir"])')
review="$daemon_url/v1/jobs/$id/review/"

ms() {
    local answer
    answer=$(curl -s -o "$work/body" -w '%{http_code} %{time_total}' "$1")
    [[ ${answer%% *} == 200 ]] || { echo "$1: ${answer%% *} $(cat "$work/body")" >&2; exit 1; }
    awk '{print $2 * 1000}' <<< "$answer"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
calls() { for _ in $(seq 21); do ms "$1"; done | median; }
engine_pid() { ps -o pid=,args= --ppid "$daemon" | awk '/serve-review/ {print $1}'; }

first=$(ms "${review}api/run")
engine=$(engine_pid)

"$BIN" review "$run" --listen 127.0.0.1:0 > "$work/out" 2> "$work/err" &
server=$!
until grep -q http "$work/out" 2>/dev/null; do
    kill -0 "$server" 2>/dev/null || { cat "$work/err"; exit 1; }
    sleep 0.05
done
direct=$(grep -o 'http://[^ ]*' "$work/out")

echo "| request | under the daemon: median ms (21 calls) | memscope review: median ms (21 calls) | bytes |"
echo "|---|---|---|---|"
for request in "api/run" "api/samples?sort=score:loss" "api/samples?sort=score:loss&class=3" "api/samples?sort=score:loss&limit=500" \
    "api/samples/123" "api/samples/123/history" "api/samples/123/image.png" "app.js"; do
    under=$(calls "$review$request")
    size=$(stat -c %s "$work/body")
    printf '| `%s` | %.1f | %.1f | %s |\n' "$request" "$under" "$(calls "$direct$request")" "$size"
done
echo
echo "first review request under the daemon (the engine starts, the run opens): ${first} ms"
echo "resident: daemon $(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$daemon/status") MiB, review engine $(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$engine/status") MiB"
while [[ -n "$(engine_pid)" ]]; do sleep 0.2; done
echo "after the idle engine ended (review_idle_seconds = 2), the next first request: $(ms "${review}api/run") ms"
