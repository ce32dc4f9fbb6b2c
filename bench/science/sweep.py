#!/usr/bin/env python3
"""Choosing memscope's default recipe by measurement, on MNIST only (never on the data
REPRODUCTION.md reports): the first 10,000 training images, 10 % symmetric noise (the
`noise` plugin, seed 0), the `cnn`, batch 128, lr 0.05, momentum 0.9, no augmentation.

Runs (each scores loss, eval_loss and curvature every epoch, so windows and
`score.every` are evaluated afterwards from the same run):
  A  weight decay {0, 5e-4} x schedule {cosine, step (x0.1 every 5 epochs)}, 15 epochs, h 1e-3
  B  h {1e-2, 3e-2} at weight decay 5e-4, step
  C  epochs {8, 30} at weight decay 5e-4, step (x0.1 at a third and two thirds of training)
Then, for every run and score: AUROC/AP of the score combined over each window (all
epochs; the first k; a decay weighting; the mask-free "auto" window that ends where the
score's top-1 % mean peaks), for score.every 1, 2, 3.

Writes bench/science/sweep.json and prints markdown tables.

    .venv/bin/python bench/science/sweep.py [--out data/science/sweep] [--threads 1]
"""

import argparse
import json
import os

import numpy as np

from common import REPO, combine, epochs_of, job_toml, log, measures, read_mask, run_job

BASE = {"batch_size": 128, "lr": 0.05, "momentum": 0.9}


def runs():
    out = []
    for wd in (0.0, 5e-4):
        for schedule in ("cosine", "step"):
            out.append((f"wd{wd:g}-{schedule}-e15-h1e-3", dict(BASE, epochs=15, weight_decay=wd, schedule=schedule, step_epochs=5), 1e-3))
    # B and C at the training recipe A favours (weight decay and a step schedule: the
    # best test accuracy, and a signal that does not fade).
    for h in (1e-2, 3e-2):
        out.append((f"wd0.0005-step-e15-h{h:g}", dict(BASE, epochs=15, weight_decay=5e-4, schedule="step", step_epochs=5), h))
    for epochs in (8, 30):
        out.append((f"wd0.0005-step-e{epochs}-h1e-3", dict(BASE, epochs=epochs, weight_decay=5e-4, schedule="step", step_epochs=-(-epochs // 3)), 1e-3))
    return out


def auto_window(epochs, rows):
    """The mask-free window: from epoch 1 to the epoch where the mean of the top 1 % peaks."""
    k = max(1, len(rows[0]) // 100)
    tops = [np.sort(r)[-k:].mean() for r in rows]
    return (1, int(epochs[int(np.argmax(tops))]) + 1)


def analyse(run_dir):
    mask = read_mask(run_dir)
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    result = {"train_accuracy": summary["train_accuracy"], "test_accuracy": summary.get("test_accuracy"),
              "train_seconds": summary["timings"]["train_seconds"], "score_seconds": summary["timings"]["score_seconds"], "scores": {}}
    for score in ("loss", "eval_loss", "curvature"):
        epochs, rows = epochs_of(run_dir, score)
        last = int(epochs.max()) + 1
        reduce = "sum" if score == "loss" else "mean"
        per_epoch = [measures(r, mask)["auroc"] for r in rows]
        windows = {"all": None, **{f"first {k}": (1, k) for k in (2, 3, 4, 5, 6, 8, 10) if k < last}}
        table = {}
        for every in (1, 2, 3):
            for wname, window in windows.items():
                s = combine(epochs, rows, window, every, reduce)
                if s is not None:
                    table[f"{wname}, every {every}"] = measures(s, mask)
            for hl in (2.0, 4.0):
                s = combine(epochs, rows, (1, last), every, reduce, half_life=hl)
                table[f"decay {hl:g}, every {every}"] = measures(s, mask)
        auto = auto_window(epochs, rows)
        table[f"auto (to {auto[1]}), every 1"] = measures(combine(epochs, rows, auto, 1, reduce), mask)
        result["scores"][score] = {"per_epoch_auroc": per_epoch, "windows": table, "auto_to": auto[1],
                                   "peak_epoch": int(np.argmax(per_epoch)) + 1}
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(REPO, "data", "science", "sweep"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", help="run only names containing this")
    parser.add_argument("--analyse-only", action="store_true", help="measure the runs already made, start none")
    args = parser.parse_args()
    path = os.path.join(REPO, "bench", "science", "sweep.json")
    results = json.load(open(path)) if os.path.exists(path) else {}
    for name, train, h in runs():
        if args.only and args.only not in name:
            continue
        if args.analyse_only and not os.path.exists(os.path.join(args.out, name, "summary.json")):
            continue
        text = job_toml(name, "mnist", 10000, (0.1, "symmetric"), train, h=h, threads=args.threads)
        results[name] = analyse(run_job(args.out, name, text))
        json.dump(results, open(path, "w"), indent=1)
    for name, r in results.items():
        print(f"\n### {name}: train acc {r['train_accuracy']:.3f}, test acc {r['test_accuracy']:.3f}, "
              f"train {r['train_seconds']:.0f} s, score {r['score_seconds']:.0f} s\n")
        print("| score | per-epoch AUROC | peak | all | first 5 | decay 4 | auto |")
        print("|---|---|---|---|---|---|---|")
        for score, s in r["scores"].items():
            w = s["windows"]
            curve = " ".join(f"{a:.3f}" for a in s["per_epoch_auroc"])
            auto = next(v for k, v in w.items() if k.startswith("auto"))
            first5 = w.get("first 5, every 1", {"auroc": float("nan")})
            print(f"| {score} | {curve} | {s['peak_epoch']} | {w['all, every 1']['auroc']:.4f} | {first5['auroc']:.4f} | "
                  f"{w['decay 4, every 1']['auroc']:.4f} | {auto['auroc']:.4f} (to {s['auto_to']}) |")


if __name__ == "__main__":
    main()
