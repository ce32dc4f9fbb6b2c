#!/usr/bin/env bash
# Training throughput of the reference `cnn` on digits: memscope vs PyTorch eager,
# same machine, same model, data, batch size, optimizer and thread count, runs
# interleaved (memscope, PyTorch, memscope, ...) so that machine drift hits both.
# Prints each run, the medians and the best runs (the best run is the least disturbed
# by other load on a shared machine); run on an otherwise idle machine (libtorch's
# OpenMP workers spin, so a busy core distorts both sides).
#
#   bench/train.sh                 # 30 epochs, 2 threads, 3 rounds
#   EPOCHS=10 ROUNDS=5 bench/train.sh
set -euo pipefail
cd "$(dirname "$0")/.."

EPOCHS=${EPOCHS:-30}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
BIN=${BIN:-target/release/memscope}
PY=${PY:-.venv/bin/python}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

results="$out/results.jsonl"
for round in $(seq "$ROUNDS"); do
  "$BIN" run configs/bench-digits.toml --out "$out" --force --quiet \
    --set "train.epochs=$EPOCHS" --set "threads=$THREADS"
  "$PY" - "$out/bench-digits/summary.json" >>"$results" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(json.dumps({"impl": "memscope", "samples_per_second": s["timings"]["train_samples_per_second"],
                  "train_seconds": s["timings"]["train_seconds"], "accuracy": s["train_accuracy"]}))
PY
  "$PY" bench/reference/train_cnn.py --epochs "$EPOCHS" --threads "$THREADS" --batch-size 64 \
    --lr 0.05 --momentum 0.9 2>/dev/null \
    | "$PY" -c 'import json,sys; r=json.loads(sys.stdin.read()); print(json.dumps({"impl":"pytorch-eager","samples_per_second":r["samples_per_second"],"train_seconds":r["train_seconds"],"accuracy":r["final_train_accuracy"]}))' \
    >>"$results"
done

"$PY" - "$results" "$EPOCHS" "$THREADS" <<'PY'
import json, statistics, sys, platform, os
rows = [json.loads(l) for l in open(sys.argv[1])]
epochs, threads = sys.argv[2], sys.argv[3]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
print(f"training throughput, cnn on digits (1797 samples), batch 64, {epochs} epochs, {threads} threads")
print(f"machine: {cpu}, {os.cpu_count()} cores")
med = {}
for impl in ("memscope", "pytorch-eager"):
    sps = [r["samples_per_second"] for r in rows if r["impl"] == impl]
    acc = [r["accuracy"] for r in rows if r["impl"] == impl]
    med[impl] = (statistics.median(sps), max(sps))
    print(f"  {impl:<14} median {med[impl][0]:6.0f}  best {med[impl][1]:6.0f} samples/s   runs: {', '.join(f'{v:.0f}' for v in sps)}   final train accuracy {acc[-1]:.4f}")
print(f"  ratio memscope / pytorch-eager: median {med['memscope'][0] / med['pytorch-eager'][0]:.2f}x, best {med['memscope'][1] / med['pytorch-eager'][1]:.2f}x")
PY
