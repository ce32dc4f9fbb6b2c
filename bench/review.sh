#!/usr/bin/env bash
# The review page with 60,000 samples: how long `memscope review` takes to open a run
# (until it prints its URL), its peak memory, and the median time of each API request
# over 5 calls (curl, loopback). The run is made by bench/review_run.py without
# training: random 28x28 images, three scores of 30 epochs, 6,000 flagged samples.
#
#   bench/review.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${CARGO_TARGET_DIR:-target}/release/memscope"
test -x "$BIN" || cargo build --release --workspace
PYTHON="${VIRTUAL_ENV:-$PWD/.venv}/bin/python"
root=$PWD
work=$(mktemp -d)
server=
trap '[[ -n "$server" ]] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
(cd "$work" && "$PYTHON" "$root/bench/review_run.py")

start=$(date +%s%N)
"$BIN" review "$work/run" --listen 127.0.0.1:0 > "$work/out" 2> "$work/err" &
server=$!
until grep -q http "$work/out" 2>/dev/null; do
    kill -0 "$server" 2>/dev/null || { cat "$work/err"; exit 1; }
    sleep 0.05
done
opened=$(( ($(date +%s%N) - start) / 1000000 ))
url=$(grep -o 'http://[^ ]*' "$work/out")

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
row() {
    local times=() size
    for _ in 1 2 3 4 5; do
        times+=("$(curl -s -o "$work/body" -w '%{time_total}' "$url$1")")
    done
    size=$(stat -c %s "$work/body")
    printf '| `%s` | %.1f | %s |\n' "$1" "$(printf '%s\n' "${times[@]}" | median | awk '{print $1 * 1000}')" "$size"
}

echo "memscope review of 60,000 samples: URL printed ${opened} ms after the start"
echo
echo "| request | median ms (5 calls) | bytes |"
echo "|---|---|---|"
row "api/run"
row "api/samples?sort=rank"
row "api/samples?sort=score:loss"
row "api/samples?sort=score:loss&offset=59952"
row "api/samples?sort=variability&class=3"
row "api/samples?sort=given_prob&flagged=true"
row "api/samples?pair=3-4"
row "api/samples/12345"
row "api/samples/12345/history"
row "api/samples/12345/image.png"
row "api/datamap"
echo
echo "peak RSS of memscope review: $(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$server/status") MiB"
