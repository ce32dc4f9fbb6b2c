#!/usr/bin/env python3
"""The window matrix: which epochs a snapshot score should combine, judged by its worst
case over run lengths (5, 15, 30 epochs), datasets (digits, MNIST 10k, Fashion-MNIST
10k) and both purposes:

  label noise    AUROC against the mask of 10 % symmetric noise (`noisy` cells);
  memorization   cosine and Spearman against Feldman & Zhang's estimate of the same
                 recipe (`clean` cells; digits and a 2,000-image MNIST, bench/science/fz.py).

Every cell is one run that scored every epoch (every 2nd in the 30-epoch MNIST and
Fashion-MNIST cells, bench/science/cells.py); each window rule is applied offline to its
`scores/<score>_epochs.npy`, so no run is made per window.
Rules that need no mask may use the training accuracy of each epoch (the run's events).

The choice is made on the tuning part of the matrix (`--part tuning`: digits at every
length, both purposes, and MNIST 10k at 15 epochs, the data of the previous choice,
when its run exists: it did not finish in time, so the choice was made on digits);
every other cell is measured after it (`--part all`). Writes bench/science/windows.json
and prints markdown tables.

    .venv/bin/python bench/science/windows.py --part tuning
    .venv/bin/python bench/science/windows.py --part all
"""

import argparse
import json
import math
import os

import numpy as np

from cells import LENGTHS, OUT as CELLS, REPO, cell_name, epoch_accuracy
from common import auroc, epochs_of
from fz import estimate_dir

SCORES = ["curvature", "eval_loss", "margin", "el2n", "in-confidence"]
TUNING = [("noisy", "digits", e) for e in LENGTHS] + [("clean", "digits", e) for e in LENGTHS] + [("noisy", "mnist10k", 15)]
ALL = ([("noisy", d, e) for d in ("digits", "mnist10k", "fashion10k") for e in LENGTHS]
       + [("clean", d, e) for d in ("digits", "mnist2k") for e in LENGTHS])


def share(p, epochs):
    """The epoch (1-based) a share of the run ends at, as `EpochBound::Percent` rounds."""
    return max(1, math.ceil(p / 100 * epochs - 1e-9))


def rules():
    """name -> f(epochs, accuracy per epoch) -> (first, last, power): epochs 1-based
    inclusive, the k-th epoch of the window weighing k^power (0: alike)."""
    out = {}
    for p in (40, 60):
        out[f"first {p}%"] = lambda e, a, p=p: (1, share(p, e), 0)
    out["all"] = lambda e, a: (1, e, 0)
    for p in (30, 50, 60, 75):
        out[f"last {p}%"] = lambda e, a, p=p: (e - share(p, e) + 1, e, 0)
    # Mask-free: from the first epoch whose training accuracy reaches q of the run's
    # highest, to the end.
    for q in (0.9, 0.95, 0.98):
        out[f"from accuracy {q:g} of max"] = lambda e, a, q=q: (next(i for i, x in enumerate(a) if x >= q * max(a)) + 1, e, 0)
    # Every epoch, the later ones weighing more (`weighting = "rising"`).
    out["all, rising sqrt"] = lambda e, a: (1, e, 0.5)
    out["all, rising linear"] = lambda e, a: (1, e, 1.0)
    return out


def target(kind, dataset, epochs, run_dir):
    if kind == "noisy":
        return np.load(os.path.join(run_dir, "noise_mask.npy")).astype(bool)
    path = os.path.join(estimate_dir(dataset, epochs), "mem.npy")
    return np.load(path).astype(np.float64) if os.path.exists(path) else None


def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def average_ranks(values):
    """Ranks from 1, ties sharing their mean rank (as memscope's comparer ranks them).
    Most samples of an estimate are exactly 0 (every model right whether in or out):
    ranks that broke those ties by sample index would correlate any two arrays with
    ties of their own (forgetting counts) through the index alone."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + 1 + ends) / 2)[inverse]


def spearman(a, b):
    return float(np.corrcoef(average_ranks(a), average_ranks(b))[0, 1])


def measure(score, truth):
    if truth.dtype == bool:
        return {"auroc": float(auroc(score, truth))}
    defined = ~np.isnan(truth)
    return {"cosine": cosine(score[defined], truth[defined]), "spearman": spearman(score[defined], truth[defined])}


def cell(kind, dataset, epochs):
    run_dir = os.path.join(CELLS, cell_name(dataset, epochs, kind))
    if not os.path.exists(os.path.join(run_dir, "summary.json")):
        return None
    truth = target(kind, dataset, epochs, run_dir)
    if truth is None:
        return None
    accuracy = epoch_accuracy(run_dir)
    out = {"accuracy": accuracy, "windows": {}, "scores": {}}
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    for s in summary["scores"]:
        if s["name"] in SCORES:
            continue
        # Scores the window does not touch: loss (the sum over every epoch) and the
        # published ones (forgetting, AUM).
        out["scores"][s["name"]] = measure(np.load(os.path.join(run_dir, s["file"])).astype(np.float64), truth)
    for name, rule in rules().items():
        first, last, power = rule(epochs, accuracy)
        out["windows"][name] = {"epochs": [first, last], "power": power}
        for score in SCORES:
            if not os.path.exists(os.path.join(run_dir, "scores", f"{score}_epochs.npy")):
                continue
            e, rows = epochs_of(run_dir, score)
            keep = [(i, r) for i, r in zip(e, rows) if first <= i + 1 <= last]
            weights = np.array([(i + 2 - first) ** power for i, _ in keep])
            combined = sum(w * r for w, (_, r) in zip(weights, keep)) / weights.sum()
            out["windows"][name][score] = measure(combined, truth)
    if kind == "noisy" and epochs == 5:
        out["top"] = {}
        for rule in (OLD, DEFAULT["noisy"]):
            first, last = out["windows"][rule]["epochs"]
            out["top"][rule] = flipped_in_top(run_dir, "curvature", first, last)
    return out


# memscope's default per purpose (`[score] purpose`; runtime/base/src/config/window.rs)
# and the default before the matrix (`score.window = "40%"`).
DEFAULT = {"noisy": "all", "clean": "all, rising sqrt"}
OLD = "first 40%"
TOP = 30


def flipped_in_top(run_dir, score, first, last, k=TOP):
    """How many of the `k` samples ranked highest by `score` over epochs first..last
    (1-based, alike) have a flipped label: the issue's measure of the 5-epoch failure."""
    mask = np.load(os.path.join(run_dir, "noise_mask.npy")).astype(bool)
    e, rows = epochs_of(run_dir, score)
    combined = rows[[first <= i + 1 <= last for i in e]].mean(axis=0)
    return int(mask[np.argsort(-combined, kind="mergesort")[:k]].sum())


def readme_tables(results, part):
    """The matrix as README shows it: each cell's figure under the old default and the
    chosen one, per purpose, the worst case of each, and the 5-epoch cells' top 30."""
    scores = ["curvature", "eval_loss"]
    print("\n### README: the window matrix (old default `first 40%` -> memscope's default for the cell's purpose)\n")
    print("| cell | chosen on it | measure | " + " | ".join(scores) + " |")
    print("|---|---|---|" + "---|" * len(scores))
    # The choice was made on the digits cells: MNIST 10k at 15 epochs, meant to be
    # among them, had not finished then (measured after the choice, like the others).
    tuning = {f"{k} {d} e{e}" for k, d, e in TUNING if d == "digits"}
    worst = {}
    for key, r in results.items():
        kind = key.split()[0]
        cols = []
        for score in scores:
            old, new = r["windows"][OLD].get(score), r["windows"][DEFAULT[kind]].get(score)
            if old is None:
                cols.append("")
                continue
            if kind == "noisy":
                cols.append(f"{old['auroc']:.4f} -> **{new['auroc']:.4f}**")
                worst.setdefault((kind, score), []).append((old["auroc"], new["auroc"]))
            else:
                cols.append(f"{old['cosine']:.3f} ({old['spearman']:.3f}) -> **{new['cosine']:.3f}** ({new['spearman']:.3f})")
                worst.setdefault((kind, score), []).append((old["cosine"], new["cosine"]))
        measure = "AUROC (10 % noise)" if kind == "noisy" else "cosine (Spearman) with FZ"
        print(f"| {key.replace('noisy ', '').replace('clean ', '')} | {'yes' if key in tuning else 'no'} | {measure} | " + " | ".join(cols) + " |")
    for kind, label in (("noisy", "worst AUROC"), ("clean", "worst cosine")):
        cols = []
        for score in scores:
            v = worst.get((kind, score))
            cols.append(f"{min(o for o, _ in v):.4f} -> **{min(n for _, n in v):.4f}**" if v else "")
        print(f"| {label} | | | " + " | ".join(cols) + " |")
    print(f"\n### README: flipped labels among the top {TOP} by curvature, 5-epoch cells\n")
    print(f"| cell | {OLD} (epochs) | {DEFAULT['noisy']} (epochs) |")
    print("|---|---|---|")
    for key, r in results.items():
        kind, dataset, length = key.split()
        if kind != "noisy" or length != "e5":
            continue
        cols = []
        for rule in (OLD, DEFAULT["noisy"]):
            first, last = r["windows"][rule]["epochs"]
            cols.append(f"{r['top'][rule]} of {TOP} ({first}-{last})")
        print(f"| {dataset} e5 | " + " | ".join(cols) + " |")


def fz_table(results, key="clean digits e30"):
    """REPRODUCTION.md: every score of the clean run against the estimate, as memscope
    combines it for `purpose = "memorization"` (snapshot scores: every epoch, rising;
    `loss` summed; forgetting and AUM as published), best cosine first."""
    r = results.get(key)
    if r is None:
        return
    rows = {s: r["windows"][DEFAULT["clean"]][s] for s in SCORES if s in r["windows"][DEFAULT["clean"]]}
    rows.update(r["scores"])
    print(f"\n### REPRODUCTION: {key} against the Feldman & Zhang estimate ({DEFAULT['clean']} for snapshot scores)\n")
    print("| score | cosine | Spearman |")
    print("|---|---|---|")
    for name, m in sorted(rows.items(), key=lambda kv: -kv[1]["cosine"]):
        print(f"| {name} | {m['cosine']:.3f} | {m['spearman']:.3f} |")


def headline(m):
    return m.get("auroc", m.get("spearman"))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=["tuning", "all"], default="tuning")
    args = p.parse_args()
    cells = TUNING if args.part == "tuning" else ALL
    path = os.path.join(REPO, "bench", "science", f"windows-{args.part}.json")
    # A cell whose run is no longer on this machine keeps what an earlier run of this
    # script measured on it (runs live in the gitignored data/; the results are kept).
    earlier = json.load(open(path)) if os.path.exists(path) else {}
    results = {}
    for kind, dataset, epochs in cells:
        key = f"{kind} {dataset} e{epochs}"
        r = cell(kind, dataset, epochs)
        if r is None and key in earlier:
            print(f"(kept from the earlier measurement: {key})")
            r = earlier[key]
        if r is None:
            print(f"(missing: {key})")
            continue
        results[key] = r
    json.dump(results, open(path, "w"), indent=1)
    names = list(rules())
    for score in SCORES:
        print(f"\n### {score}: AUROC (noisy cells) or Spearman / cosine (clean cells) per window rule\n")
        print("| rule | " + " | ".join(results) + " | worst noise | worst memorization (Spearman) |")
        print("|---|" + "---|" * (len(results) + 2))
        for name in names:
            row, noise, mem = [], [], []
            for key, r in results.items():
                m = r["windows"][name].get(score)
                if m is None:
                    row.append("")
                    continue
                if "auroc" in m:
                    row.append(f"{m['auroc']:.4f}")
                    noise.append(m["auroc"])
                else:
                    row.append(f"{m['spearman']:.3f} / {m['cosine']:.3f}")
                    mem.append(m["spearman"])
            worst = lambda v: f"{min(v):.4f}" if v else ""
            print(f"| {name} | " + " | ".join(row) + f" | {worst(noise)} | {worst(mem)} |")
    readme_tables(results, args.part)
    fz_table(results)
    print("\n### scores no window touches\n")
    for key, r in results.items():
        print(key, {s: {k: round(v, 4) for k, v in m.items()} for s, m in r["scores"].items()})
    print("\n### windows (1-based epochs) and training accuracy per epoch\n")
    for key, r in results.items():
        print(key, {n: w["epochs"] for n, w in r["windows"].items() if n.startswith("from")}, [round(a, 3) for a in r["accuracy"]])
    print("\n### the worst case of each rule over these cells, per purpose (curvature, eval_loss)\n")
    print("| rule | noise: curvature AUROC | noise: eval_loss AUROC | memorization: curvature cosine | memorization: eval_loss cosine | memorization: curvature Spearman |")
    print("|---|---|---|---|---|---|")
    for name in names:
        def worst(score, key, kind):
            v = [r["windows"][name][score][key] for k, r in results.items() if k.startswith(kind) and score in r["windows"][name]]
            return f"{min(v):.4f}" if v else ""
        print(f"| {name} | {worst('curvature', 'auroc', 'noisy')} | {worst('eval_loss', 'auroc', 'noisy')} | {worst('curvature', 'cosine', 'clean')} | "
              f"{worst('eval_loss', 'cosine', 'clean')} | {worst('curvature', 'spearman', 'clean')} |")


if __name__ == "__main__":
    main()
