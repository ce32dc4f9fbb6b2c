#!/usr/bin/env bash
# The CUDA checks, in one go, for a machine with an NVIDIA GPU (CI has none: these are
# run by hand when a GPU machine is at hand, and their output is what BENCHMARKS.md and
# README quote for CUDA). Five parts, each printing its figures:
#
#   1. The default job (configs/digits.toml) on cuda:0 and on the CPU of the same
#      machine: noise-mask AUROC of curvature, train/score seconds, and how closely the
#      two devices' curvature scores agree (Spearman).
#   2. The NCCL path: a digits job on 2 ranks x batch 32 against 1 rank x batch 64, both
#      on CUDA, beside a second 1-rank run (CUDA's own run-to-run drift, the yardstick). With one GPU both ranks share cuda:0: each rank gets its own NCCL_HOSTID,
#      so NCCL sees two hosts (it refuses two ranks of one host on one GPU) and talks
#      over its socket transport on loopback, as two one-GPU nodes would. Then one rank
#      is killed (SIGKILL) mid-training, and the other must end with an error naming it
#      within MEMSCOPE_DIST_TIMEOUT; then one is stopped (SIGSTOP: a hung peer), likewise.
#      On CUDA the ranks score on threads of their own, gathering through a second
#      NCCL group (`scorer_thread` in the results).
#   3. bench/torchscript.sh on cuda: a TorchScript ResNet-18 trained and scored by
#      memscope against the published curvature loop in PyTorch on the same GPU.
#   4. Training samples/s against PyTorch eager (bench/reference/train_cnn.py), the `cnn`
#      on MNIST-shaped and `resnet18` on CIFAR-shaped random images, fp32 and
#      bf16-mixed (`train.precision`; a build without it says so and the row stays empty),
#      and fp32 with cuDNN's autotuner on both sides (`32-autotuned`).
#   5. A resnet18 job scoring curvature every epoch against the same job training alone:
#      the wall time the scorer adds (the goal: at most 1.3x).
#   6. Scoring precision (bench/reference/score_precision.py, PyTorch on the same GPU):
#      curvature of a trained ResNet-18 by finite differences and by HVP, at float32
#      with TF32 off, with TF32 (libtorch's default for cuDNN convolutions), and under
#      bf16 and fp16 autocast, each against float32 by Spearman, with samples/s: the
#      measurement that sets memscope's scorer precision.
#   7. Profiles of part 3's scoring passes, one round at a smaller N: memscope's
#      (MEMSCOPE_PROFILE_SCORING) and the published loop's (torch.profiler), each
#      summed by bench/profile_summary.py: GPU busy share, kernels and host operators
#      by time. Why TorchScript scoring ran at 1.19x the published loop on the H200.
#
#   bench/gpu.sh                                   # with target/release and .venv
#   BIN_DIR=.gpu RESULTS_DIR=$OUT bench/gpu.sh     # the folder of `make gpu-bundle`, python3's torch
#   PARTS=23 bench/gpu.sh                         # only parts 2 and 3
#   DETERMINISTIC=1 PARTS=2 bench/gpu.sh          # part 2 with deterministic algorithms
#
# BIN_DIR holds memscope, memscope-engine and the plugin libraries (curvature, noise,
# baseline); on a GPU machine without Rust it is the folder `make gpu-bundle` made here
# (its memscope runs them with the libtorch of python3's torch). PY is .venv/bin/python
# where the checkout has that venv, else python3. RESULTS_DIR receives the JSON results.
# Every part runs even if one fails; the exit status is the number of parts that failed.
set -uo pipefail
cd "$(dirname "$0")/.."

PARTS=${PARTS:-1234567}
BIN_DIR=${BIN_DIR:-target/release}
PY=${PY:-$([[ -x .venv/bin/python ]] && echo .venv/bin/python || echo python3)}
RESULTS_DIR=${RESULTS_DIR:-$(mktemp -d)}
mkdir -p "$RESULTS_DIR"
DEVICE=${DEVICE:-cuda}   # DEVICE=cpu tries the script itself on a machine without a GPU (Gloo for part 2)
EPOCHS_DEFAULT_JOB=${EPOCHS_DEFAULT_JOB:-30}
EPOCHS_NCCL=${EPOCHS_NCCL:-10}
N=${N:-8192}             # part 3's samples
ROUNDS=${ROUNDS:-2}      # part 3's rounds
BIN="$BIN_DIR/memscope"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
part() { echo; echo "== $*"; }
seconds() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(seconds)" 'BEGIN { printf "%.1f", b - a }'; }

if [[ $DEVICE != cpu ]]; then
  "$PY" -c 'import torch; assert torch.cuda.is_available(), "no CUDA device"; print("torch", torch.__version__, "on", torch.cuda.get_device_name(0))' || exit 1
fi
"$BIN" --version || exit 1

# A job file from configs/digits.toml with some keys changed: job NAME DEVICE EPOCHS BATCH
# (DETERMINISTIC=1: with `deterministic = true`, so that CUDA runs do not drift apart).
job() {
  sed -e "0,/^name = .*/s//name = \"$1\"/" -e "s/^device = .*/device = \"$2\"${DETERMINISTIC:+\\ndeterministic = true}/" \
      -e "s/^epochs = .*/epochs = $3/" -e "s/^batch_size = 64/batch_size = $4/" configs/digits.toml
}

if [[ $PARTS == *1* ]]; then
part "1. the default job on cuda:0 and on the CPU"
job digits-cuda "$DEVICE" "$EPOCHS_DEFAULT_JOB" 64 >"$work/cuda.toml"
job digits-cpu cpu "$EPOCHS_DEFAULT_JOB" 64 >"$work/cpu.toml"
if "$BIN" run "$work/cuda.toml" --out "$work/runs" --force --quiet && "$BIN" run "$work/cpu.toml" --out "$work/runs" --force --quiet; then
  "$PY" - "$work/runs" "$RESULTS_DIR/gpu-default-job.json" <<'PY' || failed=$((failed + 1))
import json, sys
import numpy as np
runs, out = sys.argv[1:]
def rank(a): return np.argsort(np.argsort(a)).astype(float)
result = {}
for device in ("cuda", "cpu"):
    s = json.load(open(f"{runs}/digits-{device}/summary.json"))
    auroc = next(c["auroc"] for c in s["comparisons"] if c["score"] == "curvature" and c["against"] == "noise_mask")
    t = s["timings"]
    result[device] = {"auroc": auroc, "train_seconds": t["train_seconds"], "score_seconds": t["score_seconds"],
                      "train_accuracy": s["train_accuracy"], "device": s.get("device")}
    print(f"  {device:<4}: curvature AUROC vs noise mask {auroc:.4f}, train accuracy {s['train_accuracy']:.4f},"
          f" train {t['train_seconds']:.1f} s, scoring {t['score_seconds']:.1f} s")
a, b = (np.load(f"{runs}/digits-{d}/scores/curvature.npy") for d in ("cuda", "cpu"))
result["spearman_cuda_cpu"] = float(np.corrcoef(rank(a), rank(b))[0, 1])
print(f"  Spearman of the two devices' curvature scores: {result['spearman_cuda_cpu']:.4f}")
json.dump(result, open(out, "w"), indent=2)
assert result["cuda"]["auroc"] >= 0.97, "curvature on CUDA does not find the noisy labels"
PY
else
  echo "part 1 failed"; failed=$((failed + 1))
fi

fi

if [[ $PARTS == *2* ]]; then
part "2. NCCL: 2 ranks x batch 32 against 1 rank x batch 64 on CUDA"
# rank RANK OUT TOML [extra args...]: one rank of a 2-rank group sharing cuda:0. It
# replaces the shell that runs it (always a subshell: `&` or a pipeline), so that $! is
# the rank itself.
rank() {
  local r=$1 out=$2 toml=$3; shift 3
  RANK=$r WORLD_SIZE=2 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port NCCL_HOSTID="memscope-gpu-check-$r" \
    NCCL_SOCKET_IFNAME=lo MEMSCOPE_DIST_TIMEOUT=${TIMEOUT:-60} MEMSCOPE_DIST_LIVENESS=${LIVENESS:-60} \
    exec "$BIN" run "$toml" --out "$out" --force --quiet "$@"
}
job nccl "$DEVICE" "$EPOCHS_NCCL" 64 >"$work/world1.toml"
job nccl "$DEVICE" "$EPOCHS_NCCL" 32 >"$work/world2.toml"
port=$((29500 + RANDOM % 1000))
start=$(seconds)
"$BIN" run "$work/world1.toml" --out "$work/world1" --force --quiet || echo "world 1 failed"
world1=$(since "$start")
# World 1 again: how far two runs of one process drift apart on this device (cuDNN's
# default algorithms are not deterministic), the yardstick for world 2 against world 1.
"$BIN" run "$work/world1.toml" --out "$work/world1b" --force --quiet || echo "world 1 (again) failed"
start=$(seconds)
rank 1 "$work/rank1" "$work/world2.toml" >"$work/rank1.log" 2>&1 &
pid1=$!
rank 0 "$work/world2" "$work/world2.toml" 2>&1 | tail -5
status0=${PIPESTATUS[0]}
wait "$pid1"; status1=$?
world2=$(since "$start")
tail -3 "$work/rank1.log"
echo "  exit status: rank 0 $status0, rank 1 $status1; wall seconds: world 1 $world1, world 2 $world2"
if [[ $status0 == 0 && $status1 == 0 ]]; then
  "$PY" - "$work" "$RESULTS_DIR/gpu-nccl.json" "$world1" "$world2" <<'PY' || failed=$((failed + 1))
import json, sys
import numpy as np
work, out, wall1, wall2 = sys.argv[1:]
s1, s2 = (json.load(open(f"{work}/world{w}/nccl/summary.json")) for w in (1, 2))
result = {"wall_seconds": {"world1": float(wall1), "world2": float(wall2)}, "world": s2.get("world"),
          "train_seconds": {"world1": s1["timings"]["train_seconds"], "world2": s2["timings"]["train_seconds"]}}
# On CUDA each rank scores on a thread of its own, gathering through a second NCCL group.
result["scorer_thread"] = {"world1": s1["timings"].get("scorer_thread"), "world2": s2["timings"].get("scorer_thread")}
print(f"  scored on a thread of its own: world 1 {result['scorer_thread']['world1']}, world 2 {result['scorer_thread']['world2']}")
def relative(a, b):
    return np.abs(a - b) / np.maximum(np.abs(a), 1e-6)
for name in ("loss_epochs", "curvature", "eval_loss"):
    a, b, again = (np.load(f"{work}/{run}/nccl/scores/{name}.npy").astype(np.float64) for run in ("world1", "world2", "world1b"))
    result[name] = {}
    for label, other in (("world2_vs_world1", b), ("world1_again_vs_world1", again)):
        r = relative(a, other)
        result[name][label] = {"max_relative_difference": float(r.max()), "median_relative_difference": float(np.median(r))}
        print(f"  {name:<12} {label.replace('_', ' '):<24} max relative difference {r.max():.2e}, median {np.median(r):.2e}")
# Per epoch: the drift grows with training, so compare like with like.
a, b, again = (np.load(f"{work}/{run}/nccl/scores/loss_epochs.npy").astype(np.float64) for run in ("world1", "world2", "world1b"))
result["loss_epochs_median_by_epoch"] = {"world2_vs_world1": [float(np.median(relative(x, y))) for x, y in zip(a, b)],
                                         "world1_again_vs_world1": [float(np.median(relative(x, y))) for x, y in zip(a, again)]}
print("  per-sample training losses, median relative difference by epoch: world 2 vs world 1 "
      + ", ".join(f"{v:.1e}" for v in result["loss_epochs_median_by_epoch"]["world2_vs_world1"])
      + "; world 1 again vs world 1 " + ", ".join(f"{v:.1e}" for v in result["loss_epochs_median_by_epoch"]["world1_again_vs_world1"]))
for w, s in (("1", s1), ("2", s2)):
    auroc = next(c["auroc"] for c in s["comparisons"] if c["score"] == "curvature" and c["against"] == "noise_mask")
    result[f"auroc_world{w}"] = auroc
    print(f"  world {w}: curvature AUROC {auroc:.4f}, train accuracy {s['train_accuracy']:.4f}, train {s['timings']['train_seconds']:.1f} s")
json.dump(result, open(out, "w"), indent=2)
PY
else
  echo "part 2 (equivalence) failed"; failed=$((failed + 1))
fi

# fault SIGNAL NAME: rank 1 gets SIGNAL mid-training (KILL: it dies; STOP: it hangs),
# and rank 0 must end by itself with memscope's error naming rank 1 (not a crash, not
# PyTorch's watchdog) within MEMSCOPE_DIST_TIMEOUT=30 s: the liveness watch
# (MEMSCOPE_DIST_LIVENESS=10) finds rank 1 silent. A watchdog kills it after 120 s.
fault() {
  local signal=$1 name=$2
  echo "  -- rank 1 gets SIG$signal mid-training (MEMSCOPE_DIST_TIMEOUT=30, MEMSCOPE_DIST_LIVENESS=10)"
  job "nccl-$name" "$DEVICE" 200 32 >"$work/$name.toml"
  port=$((29500 + RANDOM % 1000))
  TIMEOUT=30 LIVENESS=10 rank 1 "$work/${name}1" "$work/$name.toml" >"$work/${name}1.log" 2>&1 &
  local pid1=$!
  TIMEOUT=30 LIVENESS=10 rank 0 "$work/${name}0" "$work/$name.toml" >"$work/${name}0.log" 2>&1 &
  local pid0=$!
  sleep 15
  kill -"$signal" "$pid1"
  local sent; sent=$(seconds)
  ( sleep 120; kill -9 "$pid0" 2>/dev/null ) &
  local watchdog=$!
  wait "$pid0"; local status0=$?
  kill "$watchdog" 2>/dev/null
  local after; after=$(since "$sent")
  kill -9 "$pid1" 2>/dev/null
  echo "  rank 0 ended ${after} s after rank 1 got SIG$signal, exit status $status0; its last line:"
  tail -1 "$work/${name}0.log" | cut -c1-400 | sed 's/^/    /'
  "$PY" -c 'import json, sys; json.dump({"signal": sys.argv[1], "seconds_to_end": float(sys.argv[2]), "exit_status": int(sys.argv[3]), "last_line": sys.argv[4]}, open(sys.argv[5], "w"), indent=2)' \
    "$signal" "$after" "$status0" "$(tail -1 "$work/${name}0.log")" "$RESULTS_DIR/gpu-nccl-$name.json"
  # 1 is memscope's own error exit; a signal (128 + n) or a hang is a failure.
  [[ $status0 == 1 ]] && grep -q "^error: rank 0 of 2: .*rank 1 gave no sign of life" "$work/${name}0.log" \
    && "$PY" -c 'import sys; sys.exit(float(sys.argv[1]) >= 30)' "$after" \
    || { echo "part 2 ($name) failed"; failed=$((failed + 1)); }
}
fault KILL kill
fault STOP stop

fi

if [[ $PARTS == *3* ]]; then
part "3. TorchScript ResNet-18: memscope against the published loop, both on cuda:0"
DEVICE=$DEVICE N=$N ROUNDS=$ROUNDS EPOCHS=${EPOCHS:-4} BATCH=${BATCH:-512} THREADS=${THREADS:-8} BIN="$BIN" PY="$PY" \
  RESULTS="$RESULTS_DIR/gpu-torchscript.json" MARKDOWN="$RESULTS_DIR/gpu-torchscript.md" bench/torchscript.sh \
  || { echo "part 3 failed"; failed=$((failed + 1)); }
fi

# train_job NAME DATA MODEL_LINE EPOCHS BATCH [SCORING]: a job training on the npz DATA;
# SCORING is its [score]/[[plugins]] part (default: the training pass's own per-sample
# loss, no scoring pass).
train_job() {
  local scoring=${6:-$'[score]\nbuiltin = ["loss"]'}
  cat <<EOF
name = "$1"
seed = 0
device = "$DEVICE"
[data]
format = "npz"
path = "$2"
classes = 10
[model]
$3
[train]
epochs = $4
batch_size = $5
lr = 0.05
momentum = 0.9
[checkpoint]
every = 0
[report]
enabled = false
$scoring
EOF
}

if [[ $PARTS == *4* ]]; then
part "4. training: memscope against PyTorch eager on $DEVICE, same model, data, batch and optimizer"
# MNIST-shaped (1x28x28) for the cnn, CIFAR-shaped (3x32x32) for resnet18: random
# images a network learns (bench/reference/resnet18.py data), so nothing is carried.
"$PY" bench/reference/resnet18.py data --out "$work/mnist.npz" --n "${TRAIN_N_CNN:-60000}" --shape 1x28x28
"$PY" bench/reference/resnet18.py data --out "$work/cifar.npz" --n "${TRAIN_N_RESNET:-10000}"
rows="$RESULTS_DIR/gpu-train.jsonl"
: >"$rows"
for model in cnn resnet18; do
  if [[ $model == cnn ]]; then data=$work/mnist.npz batch=128 epochs=${TRAIN_EPOCHS_CNN:-3}; else data=$work/cifar.npz batch=128 epochs=${TRAIN_EPOCHS_RESNET:-2}; fi
  train_job "train-$model" "$data" "arch = \"$model\"" "$epochs" "$batch" >"$work/train-$model.toml"
  # 32-autotuned: float32 with cuDNN's autotuner on both sides (memscope's
  # MEMSCOPE_CUDNN_BENCHMARK=1, torch.backends.cudnn.benchmark), to decide its default.
  for variant in 32 bf16-mixed 32-autotuned; do
    precision=${variant%-autotuned}
    tune=(); eager_tune=(); [[ $variant == *-autotuned ]] && tune=(MEMSCOPE_CUDNN_BENCHMARK=1) eager_tune=(--cudnn-benchmark)
    for round in 1 2; do
      # fp32 without the key: a build from before `train.precision` still runs it.
      set_precision=(); [[ $precision == 32 ]] || set_precision=(--set "train.precision=\"$precision\"")
      if env "${tune[@]}" "$BIN" run "$work/train-$model.toml" --out "$work/train" --force --quiet "${set_precision[@]}" >"$work/train.log" 2>&1; then
        "$PY" -c 'import json, sys; s = json.load(open(sys.argv[1])); t = s["timings"]
print(json.dumps({"impl": "memscope", "model": sys.argv[2], "precision": sys.argv[3], "round": int(sys.argv[4]),
                  "samples_per_second": t["train_samples_per_second"], "train_seconds": t["train_seconds"], "accuracy": s["train_accuracy"]}))' \
          "$work/train/train-$model/summary.json" "$model" "$variant" "$round" >>"$rows"
      else
        echo "  memscope $model $variant: $(grep -m1 '^error' "$work/train.log" || tail -1 "$work/train.log")"
      fi
      "$PY" bench/reference/train_cnn.py --data npz --path "$data" --model "$model" --device "$DEVICE" --precision "$precision" \
        "${eager_tune[@]}" --epochs "$epochs" --batch-size "$batch" --threads "${THREADS:-8}" 2>/dev/null \
        | "$PY" -c 'import json, sys; r = json.loads(sys.stdin.read()); print(json.dumps({"impl": "pytorch-eager", "model": r["model"], "precision": sys.argv[2], "round": int(sys.argv[1]),
                  "samples_per_second": r["samples_per_second"], "train_seconds": r["train_seconds"], "accuracy": r["final_train_accuracy"]}))' "$round" "$variant" >>"$rows" \
        || echo "  pytorch eager $model $variant failed"
    done
  done
done
"$PY" - "$rows" "$RESULTS_DIR/gpu-train.json" <<'PY' || failed=$((failed + 1))
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
result = {}
print(f"  {'model':<9} {'precision':<12} {'memscope':>10} {'eager':>10} {'ratio':>6}   (samples/s, best of 2 rounds)")
for model in ("cnn", "resnet18"):
    for precision in ("32", "bf16-mixed", "32-autotuned"):
        best = {impl: max((r["samples_per_second"] for r in rows if (r["impl"], r["model"], r["precision"]) == (impl, model, precision)), default=None)
                for impl in ("memscope", "pytorch-eager")}
        ratio = best["memscope"] / best["pytorch-eager"] if None not in best.values() else None
        result[f"{model} {precision}"] = {**best, "ratio": ratio}
        show = lambda v, f: "-" if v is None else format(v, f)
        print(f"  {model:<9} {precision:<12} {show(best['memscope'], '10.0f')} {show(best['pytorch-eager'], '10.0f')} {show(ratio, '6.2f')}")
json.dump({"rows": rows, "best": result}, open(sys.argv[2], "w"), indent=2)
PY
fi

if [[ $PARTS == *5* ]]; then
part "5. what scoring every epoch costs: resnet18 with curvature every epoch against training alone"
"$PY" bench/reference/resnet18.py data --out "$work/cifar5.npz" --n "${OVERLAP_N:-8192}"
epochs=${OVERLAP_EPOCHS:-4}
train_job alone "$work/cifar5.npz" 'arch = "resnet18"' "$epochs" 128 >"$work/alone.toml"
train_job scored "$work/cifar5.npz" 'arch = "resnet18"' "$epochs" 128 "[score]
every = 1
builtin = [\"loss\"]
[[plugins]]
name = \"curvature\"
config = { draws = 10, h = 1e-3 }" >"$work/scored.toml"
for name in alone scored; do
  "$BIN" run "$work/$name.toml" --out "$work/overlap" --force --quiet >/dev/null || { echo "part 5 ($name) failed"; failed=$((failed + 1)); }
done
"$PY" - "$work/overlap" "$RESULTS_DIR/gpu-overlap.json" <<'PY' || failed=$((failed + 1))
import json, sys
runs, out = sys.argv[1:]
t = {name: json.load(open(f"{runs}/{name}/summary.json"))["timings"] for name in ("alone", "scored")}
ratio = t["scored"]["total_seconds"] / t["alone"]["total_seconds"]
print(f"  training alone {t['alone']['total_seconds']:.1f} s; scoring every epoch {t['scored']['total_seconds']:.1f} s"
      f" (train {t['scored']['train_seconds']:.1f} s, score {t['scored']['score_seconds']:.1f} s): {ratio:.2f}x (goal: at most 1.3x)")
json.dump({"alone": t["alone"], "scored": t["scored"], "ratio": ratio}, open(out, "w"), indent=2)
PY
fi

if [[ $PARTS == *6* ]]; then
part "6. scoring precision: curvature at TF32, bf16 and fp16 against float32 (TF32 off)"
"$PY" bench/reference/score_precision.py --device "$DEVICE" --n "${PRECISION_N:-8192}" --epochs "${PRECISION_EPOCHS:-15}" \
  --threads "${THREADS:-8}" --out "$RESULTS_DIR/gpu-score-precision.json" 2>&1 | grep -v '^  epoch ' \
  || { echo "part 6 failed"; failed=$((failed + 1)); }
fi

if [[ $PARTS == *7* ]]; then
part "7. profiles of the scoring passes: memscope (TorchScript and built-in ResNet-18) and the published loop"
profiles=$RESULTS_DIR/profiles
DEVICE=$DEVICE N=${PROFILE_N:-1024} ROUNDS=1 EPOCHS=${EPOCHS:-2} BATCH=${BATCH:-512} THREADS=${THREADS:-8} BIN="$BIN" PY="$PY" \
  PROFILE_DIR="$profiles" RESULTS="$work/profiled.json" MARKDOWN="$work/profiled.md" bench/torchscript.sh >/dev/null 2>"$work/profiled.log" \
  || { tail -3 "$work/profiled.log"; echo "part 7 failed"; failed=$((failed + 1)); }
traces=()
for trace in "$profiles"/memscope-torchscript-round1/scoring-epoch-*.json "$profiles"/memscope-builtin-round1/scoring-epoch-*.json "$profiles"/published-round1.json; do
  [[ -f $trace ]] && traces+=("$(basename "$(dirname "$trace")")/$(basename "$trace")=$trace")
done
"$PY" bench/profile_summary.py --top 10 --json "$RESULTS_DIR/gpu-profiles.json" "${traces[@]}" || { echo "part 7 (summary) failed"; failed=$((failed + 1)); }
gzip -f "$profiles"/*.json "$profiles"/*/*.json 2>/dev/null
fi

echo; echo "bench/gpu.sh: $failed part(s) failed; results in $RESULTS_DIR"
exit "$failed"
