"""The runs behind the window matrix (bench/science/windows.py) and the memorization
estimates it compares with (bench/science/fz.py): job configs for every cell, and running
them with every epoch scored, so that any window is evaluated afterwards from the files
a run wrote (`scores/<score>_epochs.npy`), with no run per window.

A cell is (dataset, run length, labels): `noisy` (10 % symmetric noise from the `noise`
plugin, seed 0: the label-noise purpose, judged by AUROC against the mask) or `clean`
(the dataset's own labels: the memorization purpose, judged against Feldman & Zhang's
estimate of the same recipe).

Recipes are the shipped ones: digits as `configs/digits.toml` (constant lr 0.05, batch
64, no weight decay), MNIST and Fashion-MNIST as `configs/mnist.toml` (step schedule,
weight decay 5e-4, batch 128), each with `train.epochs` set to the run length, as a
user sets it with `--set train.epochs=N`.
"""

import json
import os

from common import DATASETS, REPO, run_job

OUT = os.path.join(REPO, "data", "science", "windows")
LENGTHS = (5, 15, 30)

DIGITS_TRAIN = {"batch_size": 64, "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0}
IDX_TRAIN = {"batch_size": 128, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "step", "step_epochs": 5, "gamma": 0.1}

# name -> (format lines of [data], [train] recipe). `mnist2k` is the second set of the
# memorization purpose: small enough for 60 trainings per run length.
SETS = {
    "digits": (['format = "digits"'], DIGITS_TRAIN),
    "mnist10k": (['format = "idx"', "limit = 10000", *(f'{k} = "{v}"' for k, v in DATASETS["mnist"].items())], IDX_TRAIN),
    "fashion10k": (['format = "idx"', "limit = 10000", *(f'{k} = "{v}"' for k, v in DATASETS["fashion-mnist"].items())], IDX_TRAIN),
    "mnist2k": (['format = "idx"', "limit = 2000", *(f'{k} = "{v}"' for k, v in DATASETS["mnist"].items())], IDX_TRAIN),
}

# Every scorer whose cost allows scoring every epoch of the set. GraNd (a backward pass
# per sample, meant for the first epochs) is left out: scored every epoch it cost
# 60 % of a digits run.
SUITE_SMALL = ["curvature", "margin", "el2n", "in-confidence", "forgetting", "aum"]
SUITE_LARGE = ["curvature", "margin"]
PLUGIN_CONFIG = {"curvature": "config = { draws = 10, h = 1e-3 }"}


# The 30-epoch runs of the 10k sets score every 2nd epoch: scored every epoch, each cost
# over 1.5 hours on the shared 2-core machine. A window rule is applied to the epochs
# a run scored, as memscope applies it.
EVERY = {("mnist10k", 30): 2, ("fashion10k", 30): 2}

# The cells run with other seeds too (seed-to-seed stability).
SEEDED = [("digits", 30, "noisy"), ("digits", 30, "clean"), ("mnist2k", 15, "clean")]


def cell_name(dataset, epochs, labels, seed=0):
    return f"{labels}-{dataset}-e{epochs}" + (f"-s{seed}" if seed else "")


def job_toml(dataset, epochs, labels, seed=0, threads=2):
    data, train = SETS[dataset]
    scorers = SUITE_LARGE if dataset in ("mnist10k", "fashion10k") else SUITE_SMALL
    lines = [
        f'name = "{cell_name(dataset, epochs, labels, seed)}"', f"seed = {seed}", f"threads = {threads}", 'device = "cpu"',
        "[data]", *data,
        "[model]", 'arch = "cnn"',
        "[train]", f"epochs = {epochs}", *(f"{k} = {json.dumps(v)}" for k, v in train.items()),
        "[score]", f"every = {EVERY.get((dataset, epochs), 1)}", 'builtin = ["loss", "eval_loss"]',
        "[checkpoint]", "every = 0",
        "[report]", "enabled = false",
    ]
    if labels == "noisy":
        # The noise is seeded apart from the job, so that every seed of a cell trains on
        # the same labels.
        lines += ["[[plugins]]", 'name = "noise"', 'config = { fraction = 0.1, kind = "symmetric", seed = 0 }']
    for plugin in scorers:
        lines += ["[[plugins]]", f'name = "{plugin}"'] + ([PLUGIN_CONFIG[plugin]] if plugin in PLUGIN_CONFIG else [])
    return "\n".join(lines) + "\n"


def run_cell(dataset, epochs, labels, seed=0, threads=2, out=OUT):
    """Runs the cell unless its summary exists; its events go to `events.jsonl` (the
    training accuracy per epoch, for mask-free window rules). Returns the run directory."""
    name = cell_name(dataset, epochs, labels, seed)
    return run_job(out, name, job_toml(dataset, epochs, labels, seed, threads), events=True)


def epoch_accuracy(run_dir):
    """The training accuracy of each epoch (train mode, as the progress line shows it)."""
    rows = [json.loads(line) for line in open(os.path.join(run_dir, "events.jsonl"))]
    return [e["accuracy"] for e in sorted((r for r in rows if r.get("event") == "train_epoch_end"), key=lambda r: r["epoch"])]


def main():
    import argparse
    p = argparse.ArgumentParser(description="run the cells of the window matrix (every epoch scored)")
    p.add_argument("--only", help="comma-separated cell names (default: every cell, digits first)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    cells = [(d, e, "noisy", 0) for d in ("digits", "mnist10k", "fashion10k") for e in LENGTHS]
    cells += [(d, e, "clean", 0) for d in ("digits", "mnist2k") for e in LENGTHS]
    cells.sort(key=lambda c: (c[0] not in ("digits",), c[0] != "mnist2k", c[1]))
    # Other seeds of some cells, for the seed-to-seed stability of each score
    # (REPRODUCTION.md): the same labels (the noise is seeded apart), another
    # initialization and data order. Only when named.
    cells += [(d, e, labels, seed) for seed in (1, 2) for d, e, labels in SEEDED]
    if args.only:
        wanted = args.only.split(",")
        cells = [c for c in cells if cell_name(*c) in wanted]
    else:
        cells = [c for c in cells if c[3] == 0]
    for dataset, epochs, labels, seed in cells:
        run_cell(dataset, epochs, labels, seed, args.threads)


if __name__ == "__main__":
    main()
