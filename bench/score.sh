#!/usr/bin/env bash
# Curvature scoring throughput (Garg et al. ICML 2024 input-loss curvature, 10 Rademacher
# draws, h = 1e-3) of the reference `cnn` on digits: memscope's `curvature` plugin vs
# PyTorch eager (bench/reference/score_curvature.py), same machine, weights, batch size
# and thread count, runs interleaved (memscope, pytorch-published, pytorch-stacked,
# memscope, ...) so that machine drift hits all three.
#
# memscope trains EPOCHS epochs and scores only after the last one (so its
# timings.score_seconds is a clean scoring pass; it also includes the builtin per-sample
# loss, one forward pass, negligible). The reference runs score the checkpoint of the
# first memscope run, so the estimates can be compared: Spearman rank correlation of
# memscope's scores with each reference variant's, next to the noise floor (two
# reference runs with different seeds, i.e. different random directions; memscope draws
# its own directions, so memscope vs reference can at best reach that floor).
#
# pytorch-published  the authors' loop (per draw: forward at x + h v and at x, backward).
# pytorch-stacked    the fastest eager form of the same estimate: grad at x once per
#                    batch, draws stacked, at most STACKED_MAX_ROWS rows per pass
#                    (0 = all draws of a batch in one pass; smaller passes are faster
#                    on CPU, the activations stay in cache).
#
# Prints each run, medians and best runs (the best run is the least disturbed by other
# load on a shared machine); run on an otherwise idle machine (libtorch's OpenMP workers
# spin, so a busy core distorts all sides). Run-by-run results: bench/results-score.json.
#
#   bench/score.sh                  # 3 rounds, 2 threads
#   ROUNDS=5 bench/score.sh
#   ROUNDS=1 STACKED_MAX_ROWS=0 bench/score.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
EPOCHS=${EPOCHS:-10}
DRAWS=${DRAWS:-10}
H=${H:-1e-3}
BATCH=${BATCH:-512}
STACKED_MAX_ROWS=${STACKED_MAX_ROWS:-1024}
NOISE_SEED=${NOISE_SEED:-1000}
BIN=${BIN:-target/release/memscope}
PY=${PY:-.venv/bin/python}
RESULTS=${RESULTS:-bench/results-score.json}

"$PY" -c 'import safetensors' 2>/dev/null || {
  echo "bench/score.sh: $PY lacks safetensors: $PY -m pip install safetensors" >&2
  exit 1
}
[[ -x "$BIN" ]] || { echo "bench/score.sh: $BIN not built (cargo build --release)" >&2; exit 1; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cat >"$out/job.toml" <<EOF
name = "bench-curvature"
seed = 0
threads = $THREADS
[data]
format = "digits"
[model]
arch = "cnn"
[train]
epochs = $EPOCHS
batch_size = 64
[score]
every = $EPOCHS   # only the last epoch is scored, after training ends: a clean timing
batch_size = $BATCH
builtin = ["loss"]
[checkpoint]
every = $EPOCHS
keep = 1
[[plugins]]
name = "curvature"
config = { draws = $DRAWS, h = $H }
EOF

runs="$out/runs.jsonl"
# annotate ROUND ROLE LOAD: adds the round, the role and the 1-minute load average at the
# start of the run to a run's JSON line (stdin), appends it to $runs and shows it.
cat >"$out/annotate.py" <<'PY'
import json, sys
r = json.loads(sys.stdin.read().strip().splitlines()[-1])
r.update(round=int(sys.argv[2]), role=sys.argv[3], loadavg_1m=float(sys.argv[4]))
with open(sys.argv[1], "a") as f:
    f.write(json.dumps(r) + "\n")
seed = f", seed {r['seed']}" if "seed" in r else ""
print(f"  round {r['round']}: {r['impl']:<18} {r['samples_per_second']:7.0f} samples/s"
      f"  ({r['seconds']:.2f}s{seed}, load {r['loadavg_1m']:.2f}){'' if r['role'] == 'timed' else ' [' + r['role'] + ']'}",
      file=sys.stderr)
PY
annotate() { "$PY" "$out/annotate.py" "$runs" "$@"; }
load() { cut -d' ' -f1 /proc/loadavg; }

reference() { # variant seed round role [extra args...]
  local variant=$1 seed=$2 round=$3 role=$4 la
  shift 4
  la=$(load)
  if ! "$PY" bench/reference/score_curvature.py --weights "$weights" --variant "$variant" \
    --threads "$THREADS" --draws "$DRAWS" --h "$H" --batch-size "$BATCH" --seed "$seed" \
    --out "$out/$variant-seed$seed-round$round.npy" "$@" 2>"$out/reference.log" \
    | annotate "$round" "$role" "$la"; then
    cat "$out/reference.log" >&2
    exit 1
  fi
}

weights=""
for round in $(seq "$ROUNDS"); do
  ms="$out/memscope-round$round"
  la=$(load)
  "$BIN" run "$out/job.toml" --out "$ms" --force --quiet
  "$PY" - "$ms/bench-curvature" "$out/memscope-round$round.npy" <<'PY' | annotate "$round" timed "$la"
import json, sys
import numpy as np
run, scores_out = sys.argv[1:]
s = json.load(open(f"{run}/summary.json"))
t = s["timings"]
np.save(scores_out, np.load(f"{run}/scores/curvature_epochs.npy")[-1].astype(np.float32))
print(json.dumps({"impl": "memscope", "samples": t["scored_samples"], "seconds": t["score_seconds"],
                  "samples_per_second": t["scored_samples"] / t["score_seconds"],
                  "train_seconds": t["train_seconds"], "train_accuracy": s["train_accuracy"],
                  "train_loss": s["train_loss"], "scores": scores_out}))
PY
  if [[ -z "$weights" ]]; then
    shopt -s nullglob
    found=("$ms"/bench-curvature/checkpoints/epoch-*/model.safetensors)
    shopt -u nullglob
    if [[ ${#found[@]} -ne 1 ]]; then
      echo "bench/score.sh: expected one checkpoint under $ms/bench-curvature/checkpoints, found ${#found[@]}" >&2
      exit 1
    fi
    weights="$out/model.safetensors"
    cp "${found[0]}" "$weights"
  else
    rm -rf "$ms"
  fi
  # The same seed gives both variants the same directions (same generator stream), so
  # published vs stacked in one round checks that the two compute the same estimate.
  reference published "$round" "$round" timed
  reference stacked "$round" "$round" timed --max-rows "$STACKED_MAX_ROWS"
done
# One more reference run with other directions, for the noise floor (not timed in the table).
reference stacked "$NOISE_SEED" 0 noise-floor --max-rows "$STACKED_MAX_ROWS"

"$PY" - "$runs" "$RESULTS" "$THREADS" "$EPOCHS" "$DRAWS" "$H" "$BATCH" "$STACKED_MAX_ROWS" <<'PY'
import itertools, json, os, platform, statistics, sys, time
import numpy as np

runs_path, results_path = sys.argv[1:3]
threads, epochs, draws, h, batch, max_rows = sys.argv[3:]
h = float(h)
rows = [json.loads(l) for l in open(runs_path)]
scores = {id(r): np.load(r["scores"]) for r in rows}

def spearman(a, b):
    ra = np.argsort(np.argsort(a)).astype(np.float64)  # ties are negligible here
    rb = np.argsort(np.argsort(b)).astype(np.float64)
    return float(np.corrcoef(ra, rb)[0, 1])

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
print()
print(f"curvature scoring throughput, cnn on digits (1797 samples), {draws} draws, h = {h:g}, "
      f"score batch {batch}, {threads} threads (memscope trained {epochs} epochs, then scored once)")
print(f"machine: {cpu}, {os.cpu_count()} cores ({affinity} usable), load average now {open('/proc/loadavg').read().split()[0]}")

impls = ["memscope", "pytorch-published", "pytorch-stacked"]
timed = [r for r in rows if r["role"] == "timed"]
stats = {}
for impl in impls:
    sps = [r["samples_per_second"] for r in timed if r["impl"] == impl]
    stats[impl] = {"median": statistics.median(sps), "best": max(sps), "runs": sps}
    print(f"  {impl:<18} median {stats[impl]['median']:6.0f}  best {stats[impl]['best']:6.0f} samples/s"
          f"   runs: {', '.join(f'{v:.0f}' for v in sps)}")
print(f"  (pytorch-stacked: at most {max_rows or 'all'} rows per forward/backward pass"
      f"{'' if max_rows == '0' else ', i.e. ' + str(max(1, int(max_rows) // int(batch))) + ' draws of a ' + batch + '-sample batch'})")
ratios = {}
for ref in impls[1:]:
    ratios[ref] = {k: stats["memscope"][k] / stats[ref][k] for k in ("median", "best")}
    print(f"  ratio memscope / {ref}: median {ratios[ref]['median']:.2f}x, best {ratios[ref]['best']:.2f}x")

# Estimate agreement, all on the first memscope run's checkpoint.
ms = next(r for r in timed if r["impl"] == "memscope" and r["round"] == 1)
refs = [r for r in rows if r["impl"].startswith("pytorch-")]
print("estimate agreement (Spearman rank correlation of per-sample scores, same checkpoint):")
agreement = {}
for impl in impls[1:]:
    rs = [spearman(scores[id(ms)], scores[id(r)]) for r in refs if r["impl"] == impl and r["role"] == "timed"]
    scale = [float(np.median(scores[id(ms)] * h / scores[id(r)])) for r in refs if r["impl"] == impl and r["role"] == "timed"]
    agreement[f"memscope vs {impl}"] = rs
    print(f"  memscope vs {impl:<18} {min(rs):.4f} (min) {statistics.mean(rs):.4f} (mean) over {len(rs)} run(s);"
          f" median of memscope*h / reference: {statistics.mean(scale):.4f}")
same = []
for r in refs:
    if r["impl"] == "pytorch-published":
        for q in refs:
            if q["impl"] == "pytorch-stacked" and q["seed"] == r["seed"]:
                a, b = scores[id(r)], scores[id(q)]
                same.append((spearman(a, b), float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-30)))))
agreement["pytorch-published vs pytorch-stacked, same seed"] = [s for s, _ in same]
print(f"  published vs stacked, same directions   {min(s for s, _ in same):.6f} (min) over {len(same)} pair(s);"
      f" max relative difference {max(d for _, d in same):.2e}")
by_seed = {}
for r in refs:  # one run per seed: published and stacked with one seed draw the same directions
    by_seed.setdefault(r["seed"], r)
floor = [spearman(scores[id(a)], scores[id(b)]) for a, b in itertools.combinations(by_seed.values(), 2)]
agreement["noise floor: reference vs reference, different seeds"] = floor
print(f"  noise floor: reference, different seeds {min(floor):.4f} (min) {statistics.mean(floor):.4f} (mean) over {len(floor)} pair(s)")
ref_loss = refs[0]["eval_loss"]
print(f"weights check: reference eval-mode loss {ref_loss:.6g}, accuracy {refs[0]['eval_accuracy']:.4f};"
      f" memscope summary train_loss {ms['train_loss']:.6g}, train_accuracy {ms['train_accuracy']:.4f}")

with open(results_path, "w") as f:
    json.dump({
        "benchmark": "curvature scoring throughput, cnn on digits",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": affinity, "platform": platform.platform()},
        "config": {"threads": int(threads), "epochs": int(epochs), "draws": int(draws), "h": h,
                   "score_batch_size": int(batch), "stacked_max_rows": int(max_rows)},
        "summary": {"samples_per_second": stats, "ratios": ratios, "spearman": agreement},
        "runs": [{k: v for k, v in r.items() if k != "scores"} for r in rows],
    }, f, indent=2)
    f.write("\n")
print(f"run-by-run results: {results_path}")
PY
