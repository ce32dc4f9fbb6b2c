#!/usr/bin/env bash
# Scale-out on this machine: one process with 2 threads against 2 ranks with 1 thread
# each (`memscope launch --nproc 2`, Gloo over loopback), on the same global batch (128)
# and data (the first 10,000 MNIST images, 2 epochs, curvature with 2 draws scored after
# epoch 2). Alternating rounds; prints training and scoring seconds from each run's
# summary.json, and the time the ranks' gradient all-reduce adds per step.
#     bench/dist.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
bin=${MEMSCOPE:-target/release/memscope}
test -f data/mnist/train-images-idx3-ubyte || scripts/fetch-data
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
job() { # NAME THREADS BATCH
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
epochs = 2
batch_size = $3
lr = 0.05
momentum = 0.9
weight_decay = 5e-4
[score]
every = 2
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
done
python3 - "$out" "$rounds" <<'PY'
import json, os, sys
out, rounds = sys.argv[1], int(sys.argv[2])
steps = 2 * -(-10000 // 128)
rows = {k: [json.load(open(f"{out}/{k}-{r}.json"))["timings"] for r in range(1, rounds + 1)] for k in ("one", "two")}
for k, label in (("one", "1 process x 2 threads"), ("two", "2 ranks x 1 thread (Gloo, loopback)")):
    t = rows[k]
    train = ", ".join("%.2f" % x["train_seconds"] for x in t)
    score = ", ".join("%.2f" % x["score_seconds"] for x in t)
    print(f"{label}: train {train} s; score {score} s")
diff = [b["train_seconds"] - a["train_seconds"] for a, b in zip(rows["one"], rows["two"])]
seconds = ", ".join("%.2f" % d for d in diff)
per_step = ", ".join("%.1f" % (1000 * d / steps) for d in diff)
print(f"2 ranks minus 1 process, training, per round: {seconds} s = {per_step} ms per step ({steps} steps); "
      f"load average {os.getloadavg()[0]:.1f}")
PY
