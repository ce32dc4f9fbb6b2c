"""Shared pieces of the science scripts (sweep.py, reproduce.py): job configs, running
memscope, and measuring a run's scores against its noise mask from the files it wrote.

Every measure is computed here from the run directory (`scores/<s>_epochs.npy`,
`noise_mask.npy`), so a window or `score.every` can be evaluated after the fact from one
run that scored every epoch, with no extra training.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(REPO, "target", "release", "memscope")
DATA = os.path.join(REPO, "data")

DATASETS = {
    "mnist": {
        "path": f"{DATA}/mnist/train-images-idx3-ubyte",
        "labels": f"{DATA}/mnist/train-labels-idx1-ubyte",
        "test_path": f"{DATA}/mnist/t10k-images-idx3-ubyte",
        "test_labels": f"{DATA}/mnist/t10k-labels-idx1-ubyte",
    },
    "fashion-mnist": {
        "path": f"{DATA}/fashion-mnist/train-images-idx3-ubyte.gz",
        "labels": f"{DATA}/fashion-mnist/train-labels-idx1-ubyte.gz",
        "test_path": f"{DATA}/fashion-mnist/t10k-images-idx3-ubyte.gz",
        "test_labels": f"{DATA}/fashion-mnist/t10k-labels-idx1-ubyte.gz",
    },
}


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def write_section(path, begin, end, section):
    """Replaces the text from `begin` to `end` (both kept, as `section` holds them) in the
    markdown file `path`, or appends `section` where the file has no such markers: how
    each script keeps its own part of REPRODUCTION.md."""
    text = open(path).read() if os.path.exists(path) else ""
    if begin in text and end in text:
        text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    open(path, "w").write(text)


def job_toml(name, dataset, limit, noise, train, h=1e-3, every=1, threads=1, seed=0, draws=10, margin=False, window=None):
    """A job: `dataset` (first `limit` images), `noise` = (fraction, kind), `train` = dict of
    [train] keys; loss, eval_loss and curvature (and the margin plugin's score) scored
    every `every` epochs, snapshot scores combined over `window` (`score.window`; by
    default memscope's); no report."""
    d = DATASETS[dataset]
    fraction, kind = noise
    lines = [
        f'name = "{name}"', f"seed = {seed}", f"threads = {threads}", 'device = "cpu"',
        "[data]", 'format = "idx"', f"limit = {limit}",
        *(f'{k} = "{v}"' for k, v in d.items()),
        "[model]", 'arch = "cnn"',
        "[train]", *(f"{k} = {json.dumps(v)}" for k, v in train.items()),
        "[score]", f"every = {every}", 'builtin = ["loss", "eval_loss"]', *([f'window = "{window}"'] if window else []),
        "[checkpoint]", "every = 0",
        "[report]", "enabled = false",
        "[[plugins]]", 'name = "noise"', f'config = {{ fraction = {fraction}, kind = "{kind}", seed = {seed} }}',
        "[[plugins]]", 'name = "curvature"', f"config = {{ draws = {draws}, h = {h} }}",
        *(["[[plugins]]", 'name = "margin"'] if margin else []),
    ]
    return "\n".join(lines) + "\n"


def run_job(out_dir, name, text, events=False):
    """Runs the job unless its summary exists; returns the run directory. With `events`,
    its events (`--events-json`) are kept in the run directory's `events.jsonl`."""
    run_dir = os.path.join(out_dir, name)
    if os.path.exists(os.path.join(run_dir, "summary.json")):
        return run_dir
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{name}.toml")
    with open(path, "w") as f:
        f.write(text)
    log(f"running {name} ...")
    started = time.time()
    command = [BIN, "run", path, "--out", out_dir, "--force", "--quiet"]
    if events:
        # Beside the run directory while it runs: --force replaces that directory.
        events_path = os.path.join(out_dir, f"{name}.events.jsonl")
        with open(events_path, "w") as stream:
            proc = subprocess.run(command + ["--events-json"], stdout=stream, stderr=subprocess.PIPE, text=True)
    else:
        proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stderr}")
    if events:
        os.replace(events_path, os.path.join(run_dir, "events.jsonl"))
    log(f"  {name}: {time.time() - started:.0f} s")
    return run_dir


def read_mask(run_dir):
    return np.load(os.path.join(run_dir, "noise_mask.npy")).astype(bool)


def one_based(summary, epochs):
    """Epochs listed in `summary` (its `scores[].epochs` or `curves[].epochs`), counted
    from 1: summaries count from 1 since `scores[].scored_epochs` exists, from 0 before."""
    from_one = any(s.get("scored_epochs") for s in summary["scores"])
    return list(epochs) if from_one else [e + 1 for e in epochs]


def epochs_of(run_dir, score):
    """(0-based epochs, rows [E, N]) of a score's per-epoch values."""
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    rows = np.load(os.path.join(run_dir, "scores", f"{score}_epochs.npy")).astype(np.float64)
    # The rows hold every scored epoch (the `curves` list them); the `scores` entry
    # lists only those in the score's aggregation window.
    epochs = [e - 1 for e in one_based(summary, next(c["epochs"] for c in summary["curves"] if c["score"] == score))]
    assert len(epochs) == rows.shape[0], (score, epochs, rows.shape)
    return np.array(epochs), rows


def auroc(score, mask):
    """Rank-based AUROC (ties get average ranks)."""
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    i = 0
    while i < len(score):
        j = i
        while j + 1 < len(score) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    p = mask.sum()
    n = len(mask) - p
    return (ranks[mask].sum() - p * (p + 1) / 2) / (p * n)


def average_precision(score, mask):
    order = np.argsort(-score, kind="mergesort")
    hits = mask[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return precision[hits].mean()


def precision_at_positives(score, mask):
    k = int(mask.sum())
    top = np.argsort(-score, kind="mergesort")[:k]
    return mask[top].mean()


def measures(score, mask):
    return {"auroc": auroc(score, mask), "ap": average_precision(score, mask), "p_at_noisy": precision_at_positives(score, mask)}


def combine(epochs, rows, window=None, every=1, reduce="mean", half_life=None):
    """A score from per-epoch rows as `[score.aggregate]` would combine it: epochs
    (1-based, inclusive) in `window` = (from, to), scored every `every` epochs (the rows
    of a run that scored every epoch, subsampled: epoch e+1 divisible by every, or last)."""
    last = epochs.max() + 1
    keep = [(e, r) for e, r in zip(epochs, rows) if ((e + 1) % every == 0 or e + 1 == last)]
    if window:
        lo, hi = window
        keep = [(e, r) for e, r in keep if lo <= e + 1 <= hi]
    if not keep:
        return None
    w = np.array([0.5 ** ((e + 1 - (window[0] if window else 1)) / half_life) if half_life else 1.0 for e, _ in keep])
    total = sum(wi * r for wi, (_, r) in zip(w, keep))
    return total / (w.sum() if reduce == "mean" else 1.0)
