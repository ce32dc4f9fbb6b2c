#!/usr/bin/env python3
"""How far each score agrees from seed to seed: the same job and labels, three seeds
(initialization and data order; the noise is seeded apart, so every seed trains on the
same labels), cells of bench/science/cells.py (`--only NAME-s1,NAME-s2` runs the other
seeds). Each snapshot score is combined as memscope combines it by default for the
cell's purpose (label noise: every epoch alike; memorization: every epoch, rising with
the square root of the epoch), `loss` as its sum, forgetting and AUM as published.

For every pair of seeds: the Spearman correlation of the two runs' scores and the
overlap of their top 1 % (the samples a user would look at first); and for each seed
the score's quality (AUROC against the noise mask, or cosine with the Feldman & Zhang
estimate), whose spread says how much one run's figure can be trusted.

Writes bench/science/stability.json and the section of REPRODUCTION.md between its
markers.

    .venv/bin/python bench/science/stability.py
"""

import itertools
import json
import os

import numpy as np

from cells import OUT as CELLS, REPO, SEEDED, cell_name
from common import auroc, epochs_of, write_section
from fz import estimate_dir
from windows import cosine, spearman

SEEDS = (0, 1, 2)
BEGIN, END = "<!-- stability: begin (bench/science/stability.py) -->", "<!-- stability: end -->"


def scores(run_dir, purpose):
    """{score: values} as memscope combines them by default for `purpose`."""
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    out = {}
    for s in summary["scores"]:
        name = s["name"]
        if s.get("aggregate") in ("sum", "published"):
            out[name] = np.load(os.path.join(run_dir, s["file"])).astype(np.float64)
            continue
        epochs, rows = epochs_of(run_dir, name)
        power = 0.5 if purpose == "memorization" else 0.0
        w = (np.arange(len(epochs)) + 1.0) ** power
        out[name] = (w[:, None] * rows).sum(0) / w.sum()
    return out


def top_overlap(a, b, share=0.01):
    k = max(1, int(round(share * len(a))))
    return len(set(np.argsort(-a)[:k]) & set(np.argsort(-b)[:k])) / k


def main():
    results = {}
    for dataset, epochs, labels in SEEDED:
        runs = [os.path.join(CELLS, cell_name(dataset, epochs, labels, seed)) for seed in SEEDS]
        runs = [r for r in runs if os.path.exists(os.path.join(r, "summary.json"))]
        if len(runs) < 2:
            print(f"(fewer than two seeds of {dataset} e{epochs} {labels})")
            continue
        purpose = "label-noise" if labels == "noisy" else "memorization"
        per_run = [scores(r, purpose) for r in runs]
        if labels == "noisy":
            truth = np.load(os.path.join(runs[0], "noise_mask.npy")).astype(bool)
            quality = lambda v: ("AUROC", auroc(v, truth))
        else:
            mem = np.load(os.path.join(estimate_dir(dataset, epochs), "mem.npy"))
            defined = ~np.isnan(mem)
            quality = lambda v: ("cosine with FZ", cosine(v[defined], mem[defined]))
        cell = {}
        for name in per_run[0]:
            pairs = list(itertools.combinations(range(len(runs)), 2))
            qualities = [quality(run[name]) for run in per_run]
            cell[name] = {
                "spearman": [spearman(per_run[i][name], per_run[j][name]) for i, j in pairs],
                "top_1pct_overlap": [top_overlap(per_run[i][name], per_run[j][name]) for i, j in pairs],
                "quality": qualities[0][0],
                "quality_per_seed": [q for _, q in qualities],
            }
        results[f"{labels} {dataset} e{epochs}"] = {"seeds": len(runs), "purpose": purpose, "scores": cell}
    json.dump(results, open(os.path.join(REPO, "bench", "science", "stability.json"), "w"), indent=1)

    lines = [BEGIN, "", "## Seed to seed: how far a run's scores agree with another run's", "",
             "The same job and the same labels, trained from another seed (initialization and data order; the `noise` plugin is "
             "seeded apart): `bench/science/cells.py --only <cell>-s1,<cell>-s2`, then `bench/science/stability.py`. Each snapshot score "
             "is combined as memscope does by default for the cell's purpose (`[score] purpose`). Spearman and top-1 % overlap are "
             "between two seeds' scores (the range over the pairs); the last column is each seed's figure against the ground truth "
             "(AUROC against the noise mask, or cosine with the Feldman & Zhang estimate of the same recipe, 60 models).", ""]
    for key, r in results.items():
        lines += [f"**{key}** ({r['seeds']} seeds, purpose `{r['purpose']}`)", "",
                  "| score | Spearman between seeds | top-1 % overlap | " + next(iter(r["scores"].values()))["quality"] + " per seed |", "|---|---|---|---|"]
        for name, s in sorted(r["scores"].items(), key=lambda kv: -min(kv[1]["spearman"])):
            span = lambda v, f: f"{min(v):{f}}" if max(v) - min(v) < 5e-5 else f"{min(v):{f}}-{max(v):{f}}"
            lines.append(f"| {name} | {span(s['spearman'], '.3f')} | {span(s['top_1pct_overlap'], '.2f')} | "
                         + ", ".join(f"{q:.4f}" for q in s["quality_per_seed"]) + " |")
        lines.append("")
    lines.append(END)
    section = "\n".join(lines)
    write_section(os.path.join(REPO, "REPRODUCTION.md"), BEGIN, END, section)
    print(section)


if __name__ == "__main__":
    main()
