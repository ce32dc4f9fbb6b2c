#!/usr/bin/env bash
# Training throughput beside busy cores: the reference `cnn` on digits, memscope and
# PyTorch eager with the same settings, with 0, 1 and 2 competing busy processes
# (`yes > /dev/null`, as another user's job would be). Runs are interleaved per round
# (each variant once, then again) so that drift hits every column alike. Prints one
# markdown table of median training samples/s and the slowdown against the idle run.
#
#   bench/busy.sh                          # 10 epochs, 3 rounds, competitors 0 1 2
#   ROUNDS=5 COMPETITORS="0 1" bench/busy.sh
#   VARIANTS="memscope memscope:OMP_WAIT_POLICY=PASSIVE eager" bench/busy.sh
#
# A variant is `memscope` or `eager`, optionally followed by `:VAR=VALUE,...`, the
# environment it runs with (how levers such as libgomp's wait policy were compared).
# Run it on an otherwise idle machine: other load is a competitor it does not count.
set -euo pipefail
cd "$(dirname "$0")/.."

EPOCHS=${EPOCHS:-10}
ROUNDS=${ROUNDS:-3}
COMPETITORS=${COMPETITORS:-0 1 2}
VARIANTS=${VARIANTS:-memscope eager}
BIN=${BIN:-target/release/memscope}
PY=${PY:-.venv/bin/python}
out=$(mktemp -d)
hogs=()
stop_hogs() { for pid in "${hogs[@]}"; do kill "$pid" 2>/dev/null || true; done; hogs=(); }
trap 'stop_hogs; rm -rf "$out"' EXIT

# One run of a variant: prints its training samples/s.
run_variant() {
  local variant=$1 impl=${1%%:*} env=()
  [[ $variant == *:* ]] && IFS=, read -r -a env <<<"${variant#*:}"
  if [[ $impl == memscope ]]; then
    # The job's own default thread count (threads = 0: what a user gets).
    env "${env[@]}" "$BIN" run configs/bench-digits.toml --out "$out" --force --quiet \
      --set "train.epochs=$EPOCHS" --set threads=0 >/dev/null
    "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["timings"]["train_samples_per_second"])' \
      "$out/bench-digits/summary.json"
  else
    # torch's default thread count (one per core), as the user's own script would run.
    env "${env[@]}" "$PY" bench/reference/train_cnn.py --epochs "$EPOCHS" --threads "$(nproc)" \
      --batch-size 64 --lr 0.05 --momentum 0.9 2>/dev/null \
      | "$PY" -c 'import json,sys; print(json.loads(sys.stdin.read())["samples_per_second"])'
  fi
}

results="$out/results.tsv"
for competitors in $COMPETITORS; do
  for _ in $(seq "$competitors"); do yes >/dev/null & hogs+=($!); done
  for _ in $(seq "$ROUNDS"); do
    for variant in $VARIANTS; do
      printf '%s\t%s\t%s\n' "$competitors" "$variant" "$(run_variant "$variant")" >>"$results"
    done
  done
  stop_hogs
done

"$PY" - "$results" "$EPOCHS" "$ROUNDS" <<'PY'
import collections, os, platform, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
runs = collections.defaultdict(list)
for competitors, variant, sps in rows:
    runs[(int(competitors), variant)].append(float(sps))
variants = list(dict.fromkeys(v for _, v, _ in rows))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
print(f"training samples/s, cnn on digits, {sys.argv[2]} epochs, median of {sys.argv[3]} runs; {cpu}, {os.cpu_count()} cores")
print()
print("| competing busy processes | " + " | ".join(variants) + " |")
print("|---" * (len(variants) + 1) + "|")
idle = {v: statistics.median(runs[(0, v)]) for v in variants if runs.get((0, v))}
for competitors in sorted({c for c, _ in runs}):
    cells = []
    for v in variants:
        median = statistics.median(runs[(competitors, v)])
        slower = f" ({idle[v] / median:.1f}x slower)" if competitors and v in idle else ""
        cells.append(f"{median:,.0f}{slower}")
    print(f"| {competitors} | " + " | ".join(cells) + " |")
PY
