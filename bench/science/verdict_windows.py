#!/usr/bin/env python3
"""Which probabilities, which epochs and which flagging rule make the best label-issue
verdict from one training: the measurement behind memscope's verdict (issue 28).

One training per cell keeps every epoch's class probabilities of every sample
(runtime/examples/verdict_probs.rs): from the training forward pass (train mode, what
memscope records for free) and from an eval-mode pass over each epoch's snapshot (what
the built-in `eval_loss` scorer computes). Every choice below is then measured against
the noise mask after the fact, from that one training:

- flags: `calibrated_self_confidence` (memscope's: as many samples as cleanlab's
  `num_label_issues(estimation_method="off_diagonal_calibrated")` counts, those with the
  lowest probability of their label); cleanlab's `find_label_issues` with `filter_by` =
  `low_self_confidence` (the same with the uncalibrated count), `confident_learning`
  (the counted samples themselves), `prune_by_noise_rate` (cleanlab's default); the rule
  DESIGN.md sketches (`any_other`: some other class clears its threshold); and `argmax`
  (the prediction is not the label);
- source: `train` or `eval` probabilities;
- window: the mean over epochs 1..k for the best k (an oracle: it needs the mask), over
  every epoch, over a fixed share of the epochs, and over the epochs a mask-free rule
  picks as training goes. `count ratio r`: the window closes before the first epoch
  after the second whose own confident-learning count is below r times the count of the
  window so far (memscope's rule, r = 0.7); `accuracy gain`: it closes at the first epoch
  whose training accuracy rose by less than 0.01.

Cells: digits (the default job's recipe, 30 epochs at a constant learning rate), MNIST 10k
and Fashion-MNIST 10k (the recipe of configs/fashion-mnist.toml, 15 epochs, step
schedule), 10 % symmetric noise, and Fashion-MNIST 10k with 10 % pairflip noise. The
flags, the source and the ratio were chosen looking at digits and Fashion-MNIST (both
noises); MNIST was measured after the choice. The rules read the training passes; the
eval rows average the eval passes of the same epochs.

Writes the section between the `verdict-windows` markers of REPRODUCTION.md and
bench/science/verdict_windows.json.

    make build reproduce-deps && scripts/fetch-data
    cargo build --release --example verdict_probs
    .venv/bin/python bench/science/verdict_windows.py
"""

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import DATASETS, REPO, log, write_section  # noqa: E402

FASHION_RECIPE = {"epochs": 15, "batch_size": 128, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "step", "step_epochs": 5, "gamma": 0.1}
DIGITS_RECIPE = {"epochs": 30, "batch_size": 64, "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0}
# (name, dataset, noise kind, recipe)
CELLS = [("digits-symmetric", "digits", "symmetric", DIGITS_RECIPE), ("fashion-mnist-symmetric", "fashion-mnist", "symmetric", FASHION_RECIPE),
         ("fashion-mnist-pairflip", "fashion-mnist", "pairflip", FASHION_RECIPE), ("mnist-symmetric", "mnist", "symmetric", FASHION_RECIPE)]
EXAMPLE = os.path.join(REPO, "target", "release", "examples", "verdict_probs")
FLAGS = ["calibrated_self_confidence", "low_self_confidence", "confident_learning", "prune_by_noise_rate", "any_other", "argmax"]
CHOSEN = "calibrated_self_confidence"
RATIOS = [0.6, 0.7, 0.8]
BEGIN, END = "<!-- verdict-windows: written by bench/science/verdict_windows.py -->", "<!-- end verdict-windows -->"


def job_toml(name, dataset, kind, recipe, threads):
    data = ['format = "digits"'] if dataset == "digits" else ['format = "idx"', "limit = 10000", *(f'{k} = "{v}"' for k, v in DATASETS[dataset].items())]
    lines = [f'name = "{name}"', "seed = 0", f"threads = {threads}", 'device = "cpu"', "[data]", *data,
             "[model]", 'arch = "cnn"', "[train]", *(f"{k} = {json.dumps(v)}" for k, v in recipe.items()),
             "[score]", "every = 1", 'builtin = ["loss"]', "[checkpoint]", "every = 0", "[report]", "enabled = false",
             "[[plugins]]", 'name = "noise"', f'config = {{ fraction = 0.1, kind = "{kind}", seed = 0 }}']
    return "\n".join(lines) + "\n"


def run_cell(out, name, dataset, kind, recipe, threads):
    run_dir = os.path.join(out, name)
    if not os.path.exists(os.path.join(run_dir, "train_probs.npy")):
        os.makedirs(out, exist_ok=True)
        job = os.path.join(out, f"{name}.toml")
        open(job, "w").write(job_toml(name, dataset, kind, recipe, threads))
        log(f"training {name} ...")
        env = {**os.environ, "MEMSCOPE_PLUGIN_PATH": os.path.join(REPO, "target", "release")}
        subprocess.run([EXAMPLE, job, run_dir], check=True, env=env)
    load = lambda f: np.load(os.path.join(run_dir, f))  # noqa: E731
    return {"train": load("train_probs.npy").astype(np.float32), "eval": load("eval_probs.npy").astype(np.float32),
            "eval_epochs": load("eval_epochs.npy"), "accuracy": load("train_accuracy.npy"),
            "labels": load("labels.npy").astype(np.int64), "mask": load("noise_mask.npy").astype(bool)}


def flags(probs, labels, rule):
    """A bool mask of flagged samples."""
    if rule == "argmax":
        return probs.argmax(1) != labels
    if rule == "calibrated_self_confidence":
        flagged = np.zeros(len(labels), dtype=bool)
        self_confidence = probs[np.arange(len(labels)), labels]
        flagged[np.argsort(self_confidence, kind="stable")[:count(probs, labels)]] = True
        return flagged
    if rule == "any_other":
        thresholds = np.array([probs[labels == k, k].mean() for k in range(probs.shape[1])])
        margin = probs - thresholds
        margin[np.arange(len(labels)), labels] = -np.inf
        return (margin >= 0).any(1)
    from cleanlab.filter import find_label_issues
    return find_label_issues(labels, probs, filter_by=rule)


def count(probs, labels):
    """Confident learning's count of issues, calibrated (memscope's count)."""
    from cleanlab.count import num_label_issues
    return num_label_issues(labels, probs, estimation_method="off_diagonal_calibrated")


def prf(flagged, mask):
    tp = (flagged & mask).sum()
    p = tp / max(flagged.sum(), 1)
    r = tp / max(mask.sum(), 1)
    return {"precision": float(p), "recall": float(r), "f1": float(2 * p * r / max(p + r, 1e-12)), "flagged": int(flagged.sum())}


def ratio_window(train, labels, ratio):
    """The epochs (1-based) memscope's rule keeps: every epoch from the first until one
    after the second counts fewer than `ratio` times the issues of the window so far."""
    window, window_count = [], 0
    for e in range(1, train.shape[0] + 1):
        own = count(train[e - 1], labels)
        if len(window) >= 2 and own < ratio * window_count:
            break
        window.append(e)
        window_count = count(train[[w - 1 for w in window]].mean(0), labels)
    return window


def windows(cell):
    """Each mask-free rule's epochs (1-based)."""
    acc, train, labels = cell["accuracy"], cell["train"], cell["labels"]
    epochs = len(acc)
    out = {"every epoch": list(range(1, epochs + 1)), "first third": list(range(1, math.ceil(epochs / 3) + 1)),
           "first 40 % (score.window)": list(range(1, math.ceil(0.4 * epochs) + 1))}
    gain = [1]
    for e in range(2, epochs + 1):
        if acc[e - 1] - acc[e - 2] < 0.01:
            break
        gain.append(e)
    out["accuracy gain"] = gain
    for r in RATIOS:
        out[f"count ratio {r}"] = ratio_window(train, labels, r)
    return out


def probs_over(cell, source, epochs):
    if source == "train":
        return cell["train"][[e - 1 for e in epochs]].mean(0)
    rows = [i for i, e in enumerate(cell["eval_epochs"]) if e + 1 in epochs]
    return cell["eval"][rows].mean(0)


def measure_cell(cell):
    labels, mask, epochs = cell["labels"], cell["mask"], len(cell["accuracy"])
    rows = []
    for source in ("train", "eval"):
        for rule in FLAGS:
            by_k = [prf(flags(probs_over(cell, source, list(range(1, k + 1))), labels, rule), mask) for k in range(1, epochs + 1)]
            best = max(range(epochs), key=lambda k: by_k[k]["f1"])
            rows.append({"source": source, "flags": rule, "window": "oracle", "epochs": [1, best + 1], **by_k[best], "f1_by_k": [round(m["f1"], 3) for m in by_k]})
            if source == "train" and rule == CHOSEN or rule == CHOSEN and source == "eval":
                for label, w in windows(cell).items():
                    rows.append({"source": source, "flags": rule, "window": label, "epochs": [w[0], w[-1]], **prf(flags(probs_over(cell, source, w), labels, rule), mask)})
            elif source == "train":
                w = windows(cell)["count ratio 0.7"]
                rows.append({"source": source, "flags": rule, "window": "count ratio 0.7", "epochs": [w[0], w[-1]], **prf(flags(probs_over(cell, source, w), labels, rule), mask)})
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=os.path.join(REPO, "data", "science", "verdict-windows"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--markdown", default=os.path.join(REPO, "REPRODUCTION.md"))
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    results = {}
    for name, dataset, kind, recipe in CELLS:
        cell = run_cell(args.out, name, dataset, kind, recipe, args.threads)
        rows = measure_cell(cell)
        results[name] = {"accuracy": [round(float(a), 4) for a in cell["accuracy"]], "rows": rows}
        log(f"\n{name}: training accuracy per epoch " + " ".join(f"{a:.3f}" for a in cell["accuracy"]))
        for r in rows:
            log(f"  {r['source']:5} {r['flags']:20} {r['window']:26} {r['epochs'][0]:2}-{r['epochs'][1]:<2} "
                f"P {r['precision']:.3f} R {r['recall']:.3f} F1 {r['f1']:.3f} ({r['flagged']})")
    json.dump(results, open(os.path.join(REPO, "bench", "science", "verdict_windows.json"), "w"), indent=1)
    write_markdown(args.markdown, results, args)


def table(results, select, title):
    names = list(results)
    lines = [f"**{title}**", "", "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    keys = []
    for n in names:
        for r in results[n]["rows"]:
            k = select(r)
            if k and k not in keys:
                keys.append(k)
    for k in keys:
        cells = []
        for n in names:
            r = next((r for r in results[n]["rows"] if select(r) == k), None)
            cells.append("" if r is None else f"{r['f1']:.3f} ({r['epochs'][0]}-{r['epochs'][1]}; P {r['precision']:.2f}, R {r['recall']:.2f})")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return lines + [""]


def write_markdown(path, results, args):
    lines = [BEGIN, "## The verdict's choices: flags, probabilities and epochs", "",
             f"Generated by `.venv/bin/python bench/science/verdict_windows.py` on {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores, {args.threads} threads, one training per cell (seed 0) keeping every epoch's class "
             "probabilities (runtime/examples/verdict_probs.rs); every figure is F1 against the noise mask, with the epochs "
             "averaged, precision and recall. 10 % noise; digits: the default job's recipe (30 epochs, constant learning rate); "
             "MNIST 10k and Fashion-MNIST 10k: the recipe of configs/fashion-mnist.toml. The flags, the source and the ratio were "
             "chosen looking at digits and Fashion-MNIST (both noises); MNIST was measured after the choice. The window rules read "
             "the training passes; the eval rows average the eval passes of the same epochs. memscope: "
             "`calibrated_self_confidence` on the `train` probabilities over the `count ratio 0.7` window.", ""]
    lines += table(results, lambda r: r["flags"] if r["source"] == "train" and r["window"] == "count ratio 0.7" else None,
                   "Flags, on the training passes' probabilities over the epochs memscope's rule picks")
    lines += table(results, lambda r: f"{r['flags']}, best window" if r["source"] == "train" and r["window"] == "oracle" else None,
                   "Flags, each over its best prefix of epochs (needs the mask: the ceiling of each rule)")
    lines += table(results, lambda r: f"{r['source']}: {r['window']}" if r["flags"] == CHOSEN else None,
                   "Windows and sources, with memscope's flags (calibrated_self_confidence)")
    lines += [END]
    write_section(path, BEGIN, END, "\n".join(lines))
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
