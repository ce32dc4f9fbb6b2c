#!/usr/bin/env bash
# Where a group scores on the CPU: 2 ranks (`memscope launch --nproc 2`, Gloo over
# loopback) scoring every epoch inline on the trainer's thread (the CPU's default)
# against the same group with each rank's scorer on a thread of its own
# (`MEMSCOPE_SCORER_THREAD=1`, a GPU's default), gathering through a second group.
# The first 10,000 MNIST images, the `cnn`, 4 epochs at a global batch of 128,
# curvature with 2 draws after every epoch; alternating rounds. Prints each run's wall
# seconds and its summary's training and scoring seconds, and how the two ways' scores
# compare: bit for bit with a fixed thread count per rank; with THREADS=0 the count
# follows the machine's load, so the sums' order, hence the last bits, may differ.
#     bench/dist-scorer.sh [ROUNDS] [THREADS]     # THREADS per rank, 0 = adaptive (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
threads=${2:-1}
bin=${MEMSCOPE:-target/release/memscope}
py=${PY:-.venv/bin/python}
test -f data/mnist/train-images-idx3-ubyte || scripts/fetch-data
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cat > "$out/job.toml" <<TOML
name = "group"
seed = 0
threads = $threads
device = "cpu"
[data]
format = "idx"
limit = 10000
path = "$PWD/data/mnist/train-images-idx3-ubyte"
labels = "$PWD/data/mnist/train-labels-idx1-ubyte"
[model]
arch = "cnn"
[train]
epochs = 4
batch_size = 64
lr = 0.05
momentum = 0.9
weight_decay = 5e-4
[score]
every = 1
[checkpoint]
every = 0
[report]
enabled = false
[[plugins]]
name = "curvature"
config = { draws = 2, h = 1e-3 }
TOML
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg); $threads thread(s) per rank"
for r in $(seq "$rounds"); do
  for mode in inline thread; do
    start=$(date +%s.%N)
    MEMSCOPE_SCORER_THREAD=$([[ $mode == thread ]] && echo 1 || echo 0) \
      "$bin" launch --nproc 2 run "$out/job.toml" --out "$out/$mode" --force --quiet > /dev/null
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
