#!/usr/bin/env python3
"""The label-issue verdict of one memscope training beside cleanlab's `find_label_issues`
with 5-fold cross-validated probabilities (five trainings), against the known noise
(issue 28): precision, recall and F1 of the flagged samples.

Cells: Fashion-MNIST, the first 10,000 training images, with 10 % symmetric and with 10 %
pairflip label noise (the `noise` plugin, seed 0), the recipe of configs/fashion-mnist.toml
(the `cnn`, 15 epochs, step schedule). memscope: one `memscope run`, its
`label_issues.csv`. cleanlab: bench/science/cleanlab_cv.py trains the same architecture
with the same recipe on each 4/5 of the same noisy labels (the run's `labels.npy`) and
predicts the held-out fifth; `cleanlab.filter.find_label_issues` with its defaults flags.
Also checked: cleanlab's own `find_label_issues(filter_by="low_self_confidence")` on the
run's `predictions/probs.npy` (memscope's flags with cleanlab's uncalibrated count) flags a
subset of what memscope flagged.

Writes the section between the `verdict` markers of REPRODUCTION.md and
bench/science/verdict.json.

    make build reproduce-deps && scripts/fetch-data
    .venv/bin/python bench/science/verdict.py [--threads 2]
"""

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import DATASETS, REPO, log, run_job, write_section  # noqa: E402

RECIPE = {"epochs": 15, "batch_size": 128, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "step", "step_epochs": 5, "gamma": 0.1}
CELLS = [("fashion-mnist", "symmetric"), ("fashion-mnist", "pairflip")]
LIMIT = 10000
BEGIN, END = "<!-- verdict: written by bench/science/verdict.py -->", "<!-- end verdict -->"


def job_toml(name, dataset, kind, threads):
    """The recipe of configs/fashion-mnist.toml with the noise plugin; `loss` only (the
    verdict does not depend on the scorers), no checkpoints, no report."""
    d = DATASETS[dataset]
    lines = [f'name = "{name}"', "seed = 0", f"threads = {threads}", 'device = "cpu"',
             "[data]", 'format = "idx"', f"limit = {LIMIT}", *(f'{k} = "{v}"' for k, v in d.items()),
             "[model]", 'arch = "cnn"', "[train]", *(f"{k} = {json.dumps(v)}" for k, v in RECIPE.items()),
             "[score]", 'builtin = ["loss"]', "[checkpoint]", "every = 0", "[report]", "enabled = false",
             "[[plugins]]", 'name = "noise"', f'config = {{ fraction = 0.1, kind = "{kind}", seed = 0 }}']
    return "\n".join(lines) + "\n"


def prf(flagged, mask):
    tp = int((flagged & mask).sum())
    p = tp / max(int(flagged.sum()), 1)
    r = tp / max(int(mask.sum()), 1)
    return {"flagged": int(flagged.sum()), "precision": p, "recall": r, "f1": 2 * p * r / max(p + r, 1e-12)}


def memscope_verdict(run_dir):
    """The run's flags as a mask, its suggestions, and its summary."""
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    labels = np.load(os.path.join(run_dir, "labels.npy"))
    rows = list(csv.DictReader(open(os.path.join(run_dir, "label_issues.csv"))))
    flagged = np.zeros(len(labels), dtype=bool)
    flagged[[int(r["index"]) for r in rows]] = True
    suggested = {int(r["index"]): int(r["suggested_label"]) for r in rows}
    return flagged, suggested, summary


def cleanlab_probs(run_dir, dataset, threads):
    """5-fold cross-validated probabilities of the run's noisy labels, kept in the run
    directory (cleanlab_probs.npy, with the five trainings' seconds) so that a rerun does
    not train them again (cleanlab_cv.py also keeps each finished fold)."""
    path = os.path.join(run_dir, "cleanlab_probs.npy")
    timing = os.path.join(run_dir, "cleanlab_seconds.json")
    if not os.path.exists(timing):
        d = DATASETS[dataset]
        log(f"cleanlab 5-fold CV on {run_dir} ...")
        out = subprocess.run([sys.executable, os.path.join(REPO, "bench", "science", "cleanlab_cv.py"), "--run-dir", run_dir,
                              "--images", d["path"], "--image-labels", d["labels"], "--limit", str(LIMIT), "--recipe", json.dumps(RECIPE),
                              "--threads", str(threads), "--seed", "0", "--save-probs", path], check=True, stdout=subprocess.PIPE, text=True)
        json.dump({"seconds": json.loads(out.stdout.splitlines()[-1])["seconds"]}, open(timing, "w"))
    return np.load(path), json.load(open(timing))["seconds"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=os.path.join(REPO, "data", "science", "verdict"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--markdown", default=os.path.join(REPO, "REPRODUCTION.md"))
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    from cleanlab.filter import find_label_issues

    results = []
    for dataset, kind in CELLS:
        name = f"{dataset}-{kind}10"
        run_dir = run_job(args.out, name, job_toml(name, dataset, kind, args.threads))
        mask = np.load(os.path.join(run_dir, "noise_mask.npy")).astype(bool)
        labels = np.load(os.path.join(run_dir, "labels.npy")).astype(np.int64)
        original = np.load(os.path.join(run_dir, "original_labels.npy")).astype(np.int64)
        flagged, suggested, summary = memscope_verdict(run_dir)
        ours = prf(flagged, mask)
        right = [suggested[i] == original[i] for i in np.nonzero(flagged & mask)[0]]
        ours.update(seconds=summary["timings"]["total_seconds"], epochs=summary["label_issues"]["epochs"],
                    suggestion_right=float(np.mean(right)) if right else None)
        # The same rule in cleanlab's code, on the probabilities memscope used.
        probs = np.load(os.path.join(run_dir, "predictions", "probs.npy")).astype(np.float32)
        same = find_label_issues(labels, probs, filter_by="low_self_confidence")
        agreement = {"cleanlab_flagged": int(same.sum()), "both": int((same & flagged).sum()), "memscope_flagged": int(flagged.sum())}
        cv, cv_seconds = cleanlab_probs(run_dir, dataset, args.threads)
        theirs = prf(find_label_issues(labels, cv), mask)
        theirs["seconds"] = cv_seconds
        cell = {"cell": f"{dataset} {kind} 10%", "memscope": ours, "cleanlab": theirs, "same_rule_in_cleanlab": agreement,
                "train_accuracy": summary["train_accuracy"], "test_accuracy": summary.get("test_accuracy")}
        log(json.dumps(cell))
        results.append(cell)
        # Written after each cell: a cell measured is kept if a later one is interrupted.
        json.dump(results, open(os.path.join(REPO, "bench", "science", "verdict.json"), "w"), indent=1)
        write_markdown(args.markdown, results, args)


def section(results, args):
    f = lambda v: "" if v is None else f"{v:.3f}"  # noqa: E731
    secs = lambda v: "" if v is None else f"{v:.0f}"  # noqa: E731
    lines = [BEGIN, "## The verdict: flagged labels from one training, beside cleanlab's from five", "",
             f"Generated by `.venv/bin/python bench/science/verdict.py` on {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores, {args.threads} threads, one seed.", "",
             "Fashion-MNIST, the first 10,000 training images, 10 % of the labels changed by the `noise` plugin (seed 0), "
             f"the recipe of configs/fashion-mnist.toml ({json.dumps(RECIPE)}). memscope: one `memscope run`; its "
             "`label_issues.csv` (confident learning on the probabilities of the training passes, averaged over the epochs "
             "the window rule picked; bench/science/verdict_windows.py measured the choices). cleanlab 2.9: "
             "`find_label_issues` with its defaults on 5-fold cross-validated probabilities of the same architecture, "
             "trained with the same recipe on the same noisy labels (bench/science/cleanlab_cv.py).", "",
             "| cell | method | trainings | epochs averaged | flagged | precision | recall | F1 | wall time (s) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in results:
        m, k = c["memscope"], c["cleanlab"]
        epochs = f"{m['epochs'][0]}-{m['epochs'][-1]}"
        lines.append(f"| {c['cell']} | memscope verdict | 1 | {epochs} | {m['flagged']} | {f(m['precision'])} | {f(m['recall'])} | "
                     f"**{f(m['f1'])}** | {secs(m['seconds'])} |")
        lines.append(f"| {c['cell']} | cleanlab, 5-fold CV | 5 | | {k['flagged']} | {f(k['precision'])} | {f(k['recall'])} | "
                     f"**{f(k['f1'])}** | {secs(k['seconds'])} |")
    lines += ["", "Of the flipped labels memscope flagged, the suggested label was the original one for "
              + ", ".join(f"{c['memscope']['suggestion_right']:.1%} ({c['cell']})" for c in results) + ".", "",
              "cleanlab's `find_label_issues(filter_by=\"low_self_confidence\")` on the run's `predictions/probs.npy` "
              "(memscope's flags, the lowest probabilities of the label, with cleanlab's uncalibrated count; memscope's count "
              "is calibrated, `num_label_issues(estimation_method=\"off_diagonal_calibrated\")`) flagged "
              + ", ".join(f"{a['cleanlab_flagged']} ({a['both']} of them also by memscope, which flagged {a['memscope_flagged']}; {c['cell']})"
                          for c in results for a in [c["same_rule_in_cleanlab"]]) + ".", "",
              "Wall times: the memscope run is the whole job (data, training, verdict); cleanlab's is its five trainings and "
              "predictions. Both ran on a shared 2-core machine while other builds and tests ran: orders of magnitude, not "
              "benchmarks.", END]
    return "\n".join(lines)


def write_markdown(path, results, args):
    """Replaces the verdict section of REPRODUCTION.md (or appends it)."""
    write_section(path, BEGIN, END, section(results, args))
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
