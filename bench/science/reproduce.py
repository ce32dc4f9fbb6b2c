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
import re
import subprocess
import sys
import time

import numpy as np

from common import DATASETS, REPO, epochs_of, job_toml, log, measures, one_based, read_mask, run_job

# The default recipe, chosen on MNIST by bench/science/sweep.py (never on the data
# reported here); `memscope run` uses the same values when a job does not set them.
RECIPE = {"epochs": 15, "batch_size": 128, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "step", "step_epochs": 5}
# Snapshot scores every 2nd epoch (on MNIST as good as every epoch, at half the cost),
# combined over the first 40 % of training (the window sweep.py chose on MNIST, memscope's
# default `score.window` until issue 29 chose every epoch by its worst case over run
# lengths: README, "Which epochs a score combines"), and over every scored epoch.
EVERY = 2
WINDOW = "40%"
# Where the sections written by other scripts begin (bench/science/stability.py's marker):
# kept when the tables above are rewritten.
KEEP_FROM = "<!-- stability: begin"
# In the order they are run: the goal cell first (Fashion-MNIST 10 % symmetric), then the
# other noise type and levels, then MNIST. An interrupted run keeps what it finished.
SETTINGS = [("fashion-mnist", 0.10, "symmetric"), ("fashion-mnist", 0.10, "pairflip"), ("fashion-mnist", 0.05, "symmetric"),
            ("fashion-mnist", 0.01, "symmetric"), ("mnist", 0.10, "symmetric"), ("mnist", 0.05, "symmetric"), ("mnist", 0.01, "symmetric")]
# cleanlab's cross-validation trains the network 5 times per cell, each for the recipe's
# first stage only (5 epochs at the full learning rate): a third of the full recipe's
# time, which keeps the whole reproduction near an hour. Every cell by default.
CLEANLAB_RECIPE = {**RECIPE, "epochs": 5}
CLEANLAB_DEFAULT = "all"
# Snapshot scores are also reported combined over every scored epoch (the curvature
# paper's mean), from the per-epoch rows the run keeps.
ALL_EPOCHS = ("eval_loss", "curvature", "margin")
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
    """Each score as the run combined it (snapshot scores: the first 40 % of training, WINDOW;
    loss: the sum over every epoch), and each snapshot score's mean over every scored
    epoch as `<score> (all epochs)`."""
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    out = {}
    for s in summary["scores"]:
        path = os.path.join(run_dir, s["file"])
        epochs = one_based(summary, s["epochs"])
        window = "" if s["name"] == "loss" else f" (epochs {epochs[0]}-{epochs[-1]})"
        out[s["name"] + window] = np.load(path).astype(np.float64)
        if s["name"] in ALL_EPOCHS:
            _, rows = epochs_of(run_dir, s["name"])
            out[f"{s['name']} (all epochs)"] = rows.mean(axis=0)
    return summary, out


def per_epoch(summary):
    """{score: (1-based epochs, AUROC per epoch)} against the noise mask."""
    return {c["score"]: (one_based(summary, c["epochs"]), c["auroc"]) for c in summary["curves"] if c.get("against") == "noise_mask"}


def cleanlab_scores(run_dir, dataset, threads, seed):
    """cleanlab's scores for the run's noisy labels, kept in the run directory
    (cleanlab.json) so that an interrupted reproduction does not train them again."""
    kept = os.path.join(run_dir, "cleanlab.json")
    if os.path.exists(kept):
        result = json.load(open(kept))
        if result.get("recipe") == CLEANLAB_RECIPE:
            return np.array(result["scores"]), result["seconds"]
    log(f"cleanlab on {run_dir} ...")
    d = DATASETS[dataset]
    cmd = [sys.executable, os.path.join(REPO, "bench", "science", "cleanlab_cv.py"), "--run-dir", run_dir,
           "--images", d["path"], "--image-labels", d["labels"], "--limit", str(LIMIT), "--recipe", json.dumps(CLEANLAB_RECIPE),
           "--threads", str(threads), "--seed", str(seed)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"cleanlab failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["recipe"] = CLEANLAB_RECIPE
    json.dump(result, open(kept, "w"))
    return np.array(result["scores"]), result["seconds"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=os.path.join(REPO, "data", "science", "reproduce"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--cleanlab", default=CLEANLAB_DEFAULT, help="cells (comma-separated run names without the seed), 'all' or 'none'")
    p.add_argument("--markdown", default=os.path.join(REPO, "REPRODUCTION.md"))
    args = p.parse_args()
    # First every memscope cell, then cleanlab where asked: the cells are the check of
    # the recipe, cleanlab (five trainings per cell) the comparison beside it.
    rows, curves, runs = [], {}, []
    for dataset, fraction, kind in SETTINGS:
        for seed in range(args.seeds):
            cell = f"{dataset}-{kind}{int(fraction * 100)}"
            name = f"{cell}-s{seed}"
            text = job_toml(name, dataset, LIMIT, (fraction, kind), RECIPE, threads=args.threads, seed=seed, every=EVERY, margin=True, window=WINDOW)
            started = time.time()
            run_dir = run_job(args.out, name, text)
            summary, scores = memscope_scores(run_dir)
            mask = read_mask(run_dir)
            wall = summary["timings"]["total_seconds"]
            noise = f"{kind} {fraction:.0%}"
            for score, values in scores.items():
                rows.append({"dataset": dataset, "noise": noise, "seed": seed, "score": score,
                             "seconds": wall, **measures(values, mask)})
            rows.append({"dataset": dataset, "noise": noise, "seed": seed, "score": "test accuracy", "value": summary["test_accuracy"]})
            rows.append({"dataset": dataset, "noise": noise, "seed": seed, "score": "train accuracy", "value": summary["train_accuracy"]})
            curves[f"{dataset} {noise} (seed {seed})"] = per_epoch(summary)
            runs.append((cell, dataset, noise, seed, run_dir, mask))
            log(f"{name}: {time.time() - started:.0f} s")
            save(rows, curves, args)
    for cell, dataset, noise, seed, run_dir, mask in runs:
        if args.cleanlab == "all" or cell in args.cleanlab.split(","):
            values, seconds = cleanlab_scores(run_dir, dataset, args.threads, seed)
            rows.append({"dataset": dataset, "noise": noise, "seed": seed, "score": "cleanlab (5-fold CV)",
                         "seconds": seconds, **measures(values, mask)})
            save(rows, curves, args)


def save(rows, curves, args):
    json.dump({"rows": rows, "curves": curves}, open(os.path.join(REPO, "bench", "science", "reproduction.json"), "w"), indent=1)
    write_markdown(args.markdown, rows, curves, args)


def cell_text(vals, fmt):
    if not vals:
        return ""
    if len(vals) == 1:
        return fmt.format(vals[0])
    return f"{fmt.format(np.mean(vals))} ({fmt.format(min(vals))}-{fmt.format(max(vals))})"


def write_markdown(path, rows, curves, args):
    """The tables for every cell measured so far; cells not (yet) run are named, not shown."""
    measured = {(r["dataset"], r["noise"]) for r in rows}
    columns = [(d, f"{k} {f:.0%}") for d, f, k in SETTINGS if (d, f"{k} {f:.0%}") in measured]
    missing = [f"{d} {k} {f:.0%}" for d, f, k in SETTINGS if (d, f"{k} {f:.0%}") not in measured]
    scored = [r for r in rows if "auroc" in r]
    scores = sorted({r["score"] for r in scored}, key=lambda s: (s.startswith("cleanlab"), s))
    header = "| | " + " | ".join(f"{d} {n}" for d, n in columns) + " |"
    rule = "|---|" + "---|" * len(columns)
    load = os.getloadavg()[0]
    lines = ["# Reproduction: memorization scores against known label noise", "",
             f"Generated by `make reproduce` (bench/science/reproduce.py) on {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores, {args.threads} threads, {args.seeds} seed(s) per cell"
             + (" (the spread is the range over seeds)." if args.seeds > 1 else " (one seed: no spread is stated)."),
             "", "Setup: the first 10,000 training images, label noise from the `noise` plugin (seed 0), the `cnn`, "
             f"recipe {json.dumps(RECIPE)}, snapshot scores (curvature: 10 draws, h = 0.001) every {EVERY} epochs. "
             "A snapshot score is shown twice: as the mean over the scored epochs in the first 40 % of training "
             "(`score.window = \"40%\"`, memscope's default until the window matrix of README \"Which epochs a score "
             "combines\" chose every epoch), and as the mean over every scored epoch (the curvature paper's choice, and "
             "memscope's default now). `loss` is the sum over every epoch (Cumulative Sample Loss). The recipe and the 40 % window were chosen "
             "on MNIST 10 % symmetric by bench/science/sweep.py (that cell is tuning data); every other cell was measured "
             "after the choice, unchanged. cleanlab: label quality (self-confidence) from 5-fold cross-validated "
             "probabilities of the same architecture on the same noisy labels, each fold trained with the recipe's first "
             f"stage ({CLEANLAB_RECIPE['epochs']} epochs at lr {CLEANLAB_RECIPE['lr']}, same batch, momentum and weight decay): "
             "a third of the full recipe's time"
             + (" (in the cells given by `--cleanlab`)." if args.cleanlab != "all" else "."), ""]
    if missing:
        lines += ["Cells not measured in this run (interrupted or not yet reached): " + ", ".join(missing) + ".", ""]
    for metric, title in (("auroc", "AUROC against the noise mask"), ("ap", "Average precision"),
                          ("p_at_noisy", "Precision at the number of noisy samples")):
        lines += [f"## {title}", "", header.replace("| |", "| score |", 1), rule]
        for score in scores:
            cells = [cell_text([r[metric] for r in scored if (r["dataset"], r["noise"], r["score"]) == (d, n, score)], "{:.4f}")
                     for d, n in columns]
            lines.append(f"| {score} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Accuracy and wall time", "", header, rule]
    for what in ("train accuracy", "test accuracy"):
        cells = [cell_text([r["value"] for r in rows if (r["dataset"], r["noise"], r["score"]) == (d, n, what)], "{:.3f}") for d, n in columns]
        lines.append(f"| {what} | " + " | ".join(cells) + " |")
    for label, score in (("memscope run: training and every score (s)", "loss"), ("cleanlab 5-fold CV (s)", "cleanlab (5-fold CV)")):
        cells = [cell_text([r["seconds"] for r in scored if (r["dataset"], r["noise"], r["score"]) == (d, n, score)], "{:.0f}") for d, n in columns]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Wall times were measured on a shared machine whose load varied from cell to cell (other builds and tests "
              f"ran beside most of them; load average {load:.1f} when this file was written): read them as orders of magnitude, "
              "not as benchmarks; the smallest are the closest to an idle machine.", "",
              "## AUROC per scored epoch", "",
              "From `summary.json`'s `curves` (the same data as the report's `signal_<score>.png`): where in training "
              "each score carries the signal.", ""]
    for cell, by_score in curves.items():
        epochs = next(iter(by_score.values()))[0] if by_score else []
        lines += [f"**{cell}**", "", "| score | " + " | ".join(f"e{e}" for e in epochs) + " |", "|---|" + "---|" * len(epochs)]
        for score, (eps, values) in sorted(by_score.items()):
            by_epoch = dict(zip(eps, values))
            lines.append(f"| {score} | " + " | ".join(f"{by_epoch[e]:.3f}" if e in by_epoch else "" for e in epochs) + " |")
        lines.append("")
    lines += ["## Published figures (other datasets)", "", PUBLISHED, ""]
    # Sections other scripts write are kept as they are: those between their own markers
    # (bench/science/verdict.py, verdict_windows.py), and everything from the stability
    # marker on (stability.py, the memorization estimate on digits).
    old = open(path).read() if os.path.exists(path) else ""
    head, kept = (old[:old.index(KEEP_FROM)], old[old.index(KEEP_FROM):]) if KEEP_FROM in old else (old, "")
    lines += [m.group(0) + "\n" for m in re.finditer(r"<!-- ([\w-]+): written by .*? -->.*?<!-- end \1 -->", head, re.S)]
    open(path, "w").write("\n".join(lines) + ("\n" + kept if kept else ""))
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
