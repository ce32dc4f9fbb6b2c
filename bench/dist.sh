#!/usr/bin/env bash
# Scale-out on this machine: one process with 2 threads against 2 ranks with 1 thread
# each (`memscope launch --nproc 2`, Gloo over loopback), on the same global batch (128)
# and data (the first 10,000 MNIST images, 2 epochs, curvature with 2 draws scored after
# epoch 2). Alternating rounds; prints training and scoring seconds from each run's
# summary.json, and the time the ranks' gradient all-reduce adds per step. The 2 ranks
# also run with the liveness watch off, to show what it costs. Then it times
# all-reduces of 64 KiB to 64 MiB on their own (runtime/examples/allreduce_bench.rs),
# fits latency + bytes / bandwidth, and prints the scaling model BENCHMARKS.md states:
# compute per sample (from the 2-rank runs) and bytes per step against a link.
# It also prints the 2 ranks' gradient buckets and their all-reduce time per step
# (`timings.dist`: in flight, overlapping backward, and the part after backward's end).
# Last, where a group scores on the CPU: the 2 ranks scoring every epoch of 4 inline on
# the trainer's thread (the CPU's default) against each rank's scorer on a thread of its
# own (`MEMSCOPE_SCORER_THREAD=1`, a GPU's default), gathering through a second group;
# each run's wall, training and scoring seconds, and how the two ways' scores compare:
# bit for bit with a fixed thread count per rank (SCORER_THREADS, default 1); with
# SCORER_THREADS=0 the count follows the machine's load, so the runs train differently.
#     bench/dist.sh [ROUNDS]
#     SCORER_THREADS=0 bench/dist.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
bin=${MEMSCOPE:-target/release/memscope}
test -f data/mnist/train-images-idx3-ubyte || scripts/fetch-data
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
job() { # NAME THREADS BATCH [EPOCHS] [EVERY]
  cat <<TOML
name = "$1"
seed = 0
threads = $2
device = "cpu"
[data]
format = "idx"
limit = 10000
path = "$PWD/data/mnist/train-images-idx3-ubyte"
labels = "$PWD/data/mnist/train-labels-idx1-ubyte"
[model]
arch = "cnn"
[train]
epochs = ${4:-2}
batch_size = $3
lr = 0.05
momentum = 0.9
weight_decay = 5e-4
[score]
every = ${5:-2}
[checkpoint]
every = 0
[report]
enabled = false
[[plugins]]
name = "curvature"
config = { draws = 2, h = 1e-3 }
TOML
}
job one 2 128 > "$out/one.toml"
job two 1 64 > "$out/two.toml"
for r in $(seq "$rounds"); do
  "$bin" run "$out/one.toml" --out "$out/runs" --force --quiet > /dev/null
  cp "$out/runs/one/summary.json" "$out/one-$r.json"
  "$bin" launch --nproc 2 run "$out/two.toml" --out "$out/runs" --force --quiet > /dev/null
  cp "$out/runs/two/summary.json" "$out/two-$r.json"
  MEMSCOPE_DIST_LIVENESS=0 "$bin" launch --nproc 2 run "$out/two.toml" --out "$out/runs" --force --quiet > /dev/null
  cp "$out/runs/two/summary.json" "$out/two_off-$r.json"
done
cargo build --release --example allreduce_bench -q
target/release/examples/allreduce_bench 2 20 > "$out/allreduce.jsonl"
python3 - "$out" "$rounds" <<'PY'
import json, os, sys
out, rounds = sys.argv[1], int(sys.argv[2])
steps = 2 * -(-10000 // 128)
rows = {k: [json.load(open(f"{out}/{k}-{r}.json"))["timings"] for r in range(1, rounds + 1)] for k in ("one", "two", "two_off")}
for k, label in (("one", "1 process x 2 threads"), ("two", "2 ranks x 1 thread (Gloo, loopback)"),
                 ("two_off", "2 ranks x 1 thread, liveness watch off (MEMSCOPE_DIST_LIVENESS=0)")):
    t = rows[k]
    train = ", ".join("%.2f" % x["train_seconds"] for x in t)
    score = ", ".join("%.2f" % x["score_seconds"] for x in t)
    print(f"{label}: train {train} s; score {score} s")
diff = [b["train_seconds"] - a["train_seconds"] for a, b in zip(rows["one"], rows["two"])]
seconds = ", ".join("%.2f" % d for d in diff)
per_step = ", ".join("%.1f" % (1000 * d / steps) for d in diff)
print(f"2 ranks minus 1 process, training, per round: {seconds} s = {per_step} ms per step ({steps} steps); "
      f"load average {os.getloadavg()[0]:.1f}")
dist = [t["dist"] for t in rows["two"]]
flight = ", ".join("%.1f" % (1000 * d["allreduce_seconds"] / d["steps"]) for d in dist)
exposed = ", ".join("%.1f" % (1000 * d["exposed_allreduce_seconds"] / d["steps"]) for d in dist)
print(f"2 ranks' gradient buckets (timings.dist): {dist[0]['buckets']} per step; all-reduce in flight {flight} ms "
      f"per step, of which after backward's end {exposed} ms")

# The all-reduce alone, and the scaling model.
lines = [json.loads(l) for l in open(f"{out}/allreduce.jsonl")]
sizes, fit = [l for l in lines if "floats" in l], next(l for l in lines if "fit" in l)
print("all-reduce, 2 ranks on loopback (Gloo, 1 thread each): " + "; ".join(
    f"{l['bytes'] / 1e6:.2f} MB {l['ms_per_call']:.2f} ms" for l in sizes))
print(f"  fit: {fit['latency_ms']:.3f} ms + bytes / {fit['bandwidth_gb_s']:.3f} GB/s")
summary = json.load(open(f"{out}/two-1.json"))
floats = summary["parameters"]
grad_bytes = 4 * floats
allreduce_s = fit["latency_ms"] / 1e3 + grad_bytes / (fit["bandwidth_gb_s"] * 1e9)
two = [t["train_seconds"] / steps for t in rows["two"]]
step = sorted(two)[len(two) // 2]
per_rank_batch = 64
compute_per_sample = (step - allreduce_s) / per_rank_batch
print(f"  model inputs: {floats} parameters = {grad_bytes / 1e6:.2f} MB all-reduced per step; a 2-rank step "
      f"{step * 1e3:.1f} ms (median), of which the all-reduce {allreduce_s * 1e3:.1f} ms by the fit, so "
      f"compute {compute_per_sample * 1e3:.3f} ms per sample per 1-thread rank")
# A ring all-reduce of W ranks takes 2 (W - 1) steps, each a message's latency, and moves
# 2 (W - 1) / W of the bytes through each rank's link; the 2-rank fit's latency is 2 steps.
links = [("this loopback (fit)", fit["latency_ms"] / 1e3 / 2, fit["bandwidth_gb_s"] * 1e9),
         ("10 GbE (assumed 1.1 GB/s, 50 us)", 50e-6, 1.1e9),
         ("100 Gb/s InfiniBand (assumed 11 GB/s, 5 us)", 5e-6, 11e9)]
print("  estimated speed-up over one rank (per-rank batch 64, so the global batch grows with the ranks;"
      " the all-reduce counted whole, as if not overlapped with backward), by ranks:")
for name, latency, bandwidth in links:
    cells = []
    for w in (2, 4, 8, 16, 32):
        comm = 2 * (w - 1) * latency + 2 * (w - 1) / w * grad_bytes / bandwidth
        compute = per_rank_batch * compute_per_sample
        cells.append(f"{w}: {w * compute / (compute + comm):.1f}x")
    print(f"    {name:<44} " + ", ".join(cells))
PY

# Where the group scores (see the top).
scorer_threads=${SCORER_THREADS:-1}
py=${PY:-.venv/bin/python}
job group "$scorer_threads" 64 4 1 > "$out/group.toml"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg); $scorer_threads thread(s) per rank"
for r in $(seq "$rounds"); do
  for mode in inline thread; do
    start=$(date +%s.%N)
    MEMSCOPE_SCORER_THREAD=$([[ $mode == thread ]] && echo 1 || echo 0) \
      "$bin" launch --nproc 2 run "$out/group.toml" --out "$out/$mode" --force --quiet > /dev/null
    wall=$(echo "$(date +%s.%N) - $start" | bc)
    "$py" - "$out/$mode/group/summary.json" "$mode" "$r" "$wall" <<'PY'
import json, sys
path, mode, r, wall = sys.argv[1:]
t = json.load(open(path))["timings"]
print(f"round {r} {mode:<7} wall {float(wall):6.1f} s   train {t['train_seconds']:6.1f} s   score {t['score_seconds']:6.1f} s   scorer thread {t['scorer_thread']}")
PY
  done
  "$py" - "$out" "$r" <<'PY'
import sys
import numpy as np
out, r = sys.argv[1:]
a, b = (np.load(f"{out}/{mode}/group/scores/curvature_epochs.npy") for mode in ("inline", "thread"))
rank = lambda x: np.argsort(np.argsort(x))
if np.array_equal(a, b):
    print(f"round {r}: the same curvature scores both ways, bit for bit")
else:
    rel = np.abs(a - b) / np.maximum(np.abs(a), 1e-6)
    rho = min(np.corrcoef(rank(x), rank(y))[0, 1] for x, y in zip(a, b))
    print(f"round {r}: curvature differs by at most {rel.max():.1e} (relative), Spearman >= {rho:.6f} per epoch")
PY
done
