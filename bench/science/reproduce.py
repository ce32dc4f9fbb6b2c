#!/usr/bin/env python3
"""`make reproduce`: memscope's scores beside the papers', on data we can have offline.

For MNIST and Fashion-MNIST (`scripts/fetch-data`), the first 10,000 training images,
symmetric label noise of 1 %, 5 % and 10 % (the `noise` plugin, seed 0), and on
Fashion-MNIST also 10 % pairflip noise: one `memscope run` with the default recipe
(the one `bench/science/sweep.py` chose on MNIST; see RECIPE below), then cleanlab's
label quality from 5-fold cross-validated probabilities of the same architecture on
the same noisy labels (bench/science/cleanlab_cv.py). Every score is measured against
the noise mask: AUROC, average precision, precision at the number of noisy samples,
and the wall time of what produced it.

Writes REPRODUCTION.md (and bench/science/reproduction.json).

    .venv/bin/python bench/science/reproduce.py [--threads 2] [--seeds 1] [--skip-cleanlab]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

from common import DATASETS, REPO, job_toml, log, measures, read_mask, run_job

# The default recipe, chosen on MNIST by bench/science/sweep.py (never on the data
# reported here); `memscope run` uses the same values when a job does not set them.
RECIPE = {"epochs": 15, "batch_size": 128, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "step", "step_epochs": 5}
# Snapshot scores every 2nd epoch (on MNIST as good as every epoch, at half the cost),
# combined over the first 40 % of training (memscope's default `score.window`).
EVERY = 2
SETTINGS = [(d, f, "symmetric") for d in ("mnist", "fashion-mnist") for f in (0.01, 0.05, 0.10)] + [("fashion-mnist", 0.10, "pairflip")]
LIMIT = 10000

PUBLISHED = """| score | published AUROC | where |
|---|---|---|
| curvature | 0.97-0.98 | CIFAR-10, 1-10 % symmetric noise, ResNet-18 (Garg, Ravikumar & Roy 2024; Ravikumar et al.) |
| curvature | 0.986-0.989 | CIFAR-100, 1-10 % symmetric noise |
| loss (CSL) | 0.985-0.99 | CIFAR-10/100 (Ravikumar et al., Cumulative Sample Loss) |
| cleanlab | 0.855-0.891 | CIFAR-10/100 (as reported in the CSL paper) |

These are other datasets and models than the table above: they show the range the
methods reach, not a like-for-like comparison."""


def memscope_scores(run_dir):
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    out = {}
    for s in summary["scores"]:
        path = os.path.join(run_dir, s["file"])
        out[s["name"]] = np.load(path).astype(np.float64)
    return summary, out


def cleanlab_scores(run_dir, dataset, threads, seed):
    d = DATASETS[dataset]
    cmd = [sys.executable, os.path.join(REPO, "bench", "science", "cleanlab_cv.py"), "--run-dir", run_dir,
           "--images", d["path"], "--image-labels", d["labels"], "--limit", str(LIMIT), "--recipe", json.dumps(RECIPE),
           "--threads", str(threads), "--seed", str(seed)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"cleanlab failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return np.array(result["scores"]), result["seconds"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=os.path.join(REPO, "data", "science", "reproduce"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--skip-cleanlab", action="store_true")
    p.add_argument("--markdown", default=os.path.join(REPO, "REPRODUCTION.md"))
    args = p.parse_args()
    rows = []
    for dataset, fraction, kind in SETTINGS:
        for seed in range(args.seeds):
            name = f"{dataset}-{kind}{int(fraction * 100)}-s{seed}"
            text = job_toml(name, dataset, LIMIT, (fraction, kind), RECIPE, threads=args.threads, seed=seed, every=EVERY, margin=True)
            started = time.time()
            run_dir = run_job(args.out, name, text)
            summary, scores = memscope_scores(run_dir)
            mask = read_mask(run_dir)
            wall = summary["timings"]["total_seconds"]
            for score, values in scores.items():
                rows.append({"dataset": dataset, "noise": f"{kind} {fraction:.0%}", "seed": seed, "score": score,
                             "seconds": wall, **measures(values, mask)})
            if not args.skip_cleanlab:
                values, seconds = cleanlab_scores(run_dir, dataset, args.threads, seed)
                rows.append({"dataset": dataset, "noise": f"{kind} {fraction:.0%}", "seed": seed, "score": "cleanlab (5-fold CV)",
                             "seconds": seconds, **measures(values, mask)})
            log(f"{name}: {time.time() - started:.0f} s")
            json.dump(rows, open(os.path.join(REPO, "bench", "science", "reproduction.json"), "w"), indent=1)
    write_markdown(args.markdown, rows, args)


def write_markdown(path, rows, args):
    columns = [(d, n) for d, f, k in SETTINGS for n in [f"{k} {f:.0%}"] if (d, n)]
    scores = sorted({r["score"] for r in rows}, key=lambda s: (s.startswith("cleanlab"), s))
    lines = ["# Reproduction: memorization scores against known label noise", "",
             f"Generated by `make reproduce` (bench/science/reproduce.py) on {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores, {args.threads} threads, {args.seeds} seed(s) per cell"
             + (" (the spread is the range over seeds)." if args.seeds > 1 else " (one seed: no spread is stated)."),
             "", "Setup: the first 10,000 training images, label noise from the `noise` plugin, the `cnn`, "
             f"recipe {json.dumps(RECIPE)}, snapshot scores every {EVERY} epochs and combined over the first 40 % of "
             "training (the default `score.window`), as chosen on MNIST 10 % symmetric by bench/science/sweep.py (that cell "
             "is the tuning data; every other cell was measured after the choice); cleanlab's label "
             "quality from 5-fold cross-validated probabilities of the same architecture and recipe on the same noisy labels.", ""]
    for metric, title in (("auroc", "AUROC"), ("ap", "Average precision"), ("p_at_noisy", "Precision at the number of noisy samples"), ("seconds", "Wall time (s)")):
        lines += [f"## {title}", "", "| score | " + " | ".join(f"{d} {n}" for d, n in columns) + " |",
                  "|---|" + "---|" * len(columns)]
        for score in scores:
            cells = []
            for d, n in columns:
                vals = [r[metric] for r in rows if r["dataset"] == d and r["noise"] == n and r["score"] == score]
                if not vals:
                    cells.append("")
                elif len(vals) == 1:
                    cells.append(f"{vals[0]:.0f}" if metric == "seconds" else f"{vals[0]:.4f}")
                else:
                    fmt = "{:.0f}" if metric == "seconds" else "{:.4f}"
                    cells.append(f"{fmt.format(np.mean(vals))} ({fmt.format(min(vals))}-{fmt.format(max(vals))})")
            lines.append(f"| {score} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["memscope's wall time is one run that trains once and produces every memscope score together.", "",
              "## Published figures (other datasets)", "", PUBLISHED, ""]
    open(path, "w").write("\n".join(lines))
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
