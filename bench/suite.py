#!/usr/bin/env python3
"""`make bench-suite`: every memorization score memscope ships, in one run, against known
label noise, and what each one adds to the run's time.

One `memscope run` on the first 10,000 MNIST training images with 10 % symmetric noise
(the `noise` plugin), the `cnn` and the default recipe; every scorer of the suite plus the
built-in `loss` and `eval_loss`; the `baseline` comparer against the noise mask. The
figures come from the run's `summary.json`: its `rankings` (AUROC, AP, precision at the
number of noisy samples) and `timings.plugins` (each plugin's seconds in its hooks).
`eval_loss` is not a plugin: its time is the scoring time less the plugins' `score_batch`
time. Writes the section "The memorization-score suite" of BENCHMARKS.md and
bench/results-suite.json.

    .venv/bin/python bench/suite.py [--plugins curvature,margin,...] [--threads 2]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BIN = os.path.join(REPO, "target", "release", "memscope")
MNIST = os.path.join(REPO, "data", "mnist")
# Every scorer of the suite, with the settings the README recommends for it.
SUITE = {
    "curvature": "config = { draws = 10, h = 1e-3 }",
    "margin": "",
    "el2n": "",
    # One backward pass per sample: scored at the snapshot after epoch 2 only (the
    # paper's "early in training"), and combined over that one (see [score.aggregate]).
    "grand": "config = { until_epoch = 2 }",
    "in-confidence": "",
    "forgetting": "",
    "aum": "",
}
HEADING = "## The memorization-score suite (`make bench-suite`, `bench/suite.py`)"


def job(name, plugins, threads):
    lines = [
        f'name = "{name}"', "seed = 0", f"threads = {threads}", 'device = "cpu"',
        "[data]", 'format = "idx"', "limit = 10000",
        f'path = "{MNIST}/train-images-idx3-ubyte"', f'labels = "{MNIST}/train-labels-idx1-ubyte"',
        f'test_path = "{MNIST}/t10k-images-idx3-ubyte"', f'test_labels = "{MNIST}/t10k-labels-idx1-ubyte"',
        # The default recipe (configs/mnist.toml, chosen by bench/science/sweep.py).
        "[model]", 'arch = "cnn"',
        "[train]", "epochs = 15", "batch_size = 128", "lr = 0.05", "momentum = 0.9", "weight_decay = 5e-4",
        'schedule = "step"', "step_epochs = 5", "gamma = 0.1",
        "[score]", "every = 2", 'builtin = ["loss", "eval_loss"]',
        *(["[score.aggregate.grand]", "to = 2"] if "grand" in plugins else []),
        "[checkpoint]", "every = 0",
        "[report]", "enabled = false",
        "[[plugins]]", 'name = "noise"', 'config = { fraction = 0.1, kind = "symmetric", seed = 0 }',
    ]
    for plugin in plugins:
        lines += ["[[plugins]]", f'name = "{plugin}"'] + ([SUITE[plugin]] if SUITE[plugin] else [])
    lines += ["[[plugins]]", 'name = "baseline"', 'config = { against = ["noise_mask"] }']
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--plugins", default=",".join(SUITE), help="comma-separated scorers of the suite to run")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=os.path.join(REPO, "data", "bench-suite"))
    p.add_argument("--markdown", default=os.path.join(REPO, "BENCHMARKS.md"))
    p.add_argument("--markdown-only", action="store_true", help="rewrite the section from bench/results-suite.json, run nothing")
    args = p.parse_args()
    if args.markdown_only:
        write_markdown(args.markdown, json.load(open(os.path.join(REPO, "bench", "results-suite.json"))))
        return
    plugins = [s for s in args.plugins.split(",") if s]
    unknown = [s for s in plugins if s not in SUITE]
    if unknown:
        raise SystemExit(f"not in the suite: {unknown} (the suite: {list(SUITE)})")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "suite.toml")
    with open(path, "w") as f:
        f.write(job("suite", plugins, args.threads))
    load_before = os.getloadavg()[0]
    started = time.time()
    proc = subprocess.run([BIN, "run", path, "--out", args.out, "--force", "--quiet"], capture_output=True, text=True)
    wall = time.time() - started
    if proc.returncode != 0:
        raise SystemExit(f"the suite run failed:\n{proc.stderr}")
    print(proc.stdout, file=sys.stderr)
    summary = json.load(open(os.path.join(args.out, "suite", "summary.json")))
    ranking = next(r for r in summary["rankings"] if r["against"] == "noise_mask")
    t = summary["timings"]
    seconds = {p["plugin"]: p for p in t["plugins"]}
    plugin_scoring = sum(p["hooks"].get("score_batch", 0.0) for p in t["plugins"])
    added = {name: seconds[name]["seconds"] for name in seconds if name not in ("noise", "baseline")}
    added["eval_loss"] = max(t["score_seconds"] - plugin_scoring, 0.0)
    added["loss"] = 0.0
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_average": [load_before, os.getloadavg()[0]],
        "wall_seconds": wall,
        "timings": t,
        "train_accuracy": summary["train_accuracy"],
        "test_accuracy": summary.get("test_accuracy"),
        "ranking": ranking,
        "added_seconds": added,
    }
    json.dump(result, open(os.path.join(REPO, "bench", "results-suite.json"), "w"), indent=1)
    write_markdown(args.markdown, result)


def seconds(s):
    return f"{s:.1f} s" if s >= 1 else f"{s * 1000:.0f} ms"


def write_markdown(path, r):
    t = r["timings"]
    hooks = {p["plugin"]: ", ".join(f"{h} {seconds(s)}" for h, s in sorted(p["hooks"].items()) if s >= 0.001) for p in t["plugins"]}
    lines = [
        HEADING, "",
        f"{r['when']}, {r['machine']}, load average {r['load_average'][0]:.1f} before and {r['load_average'][1]:.1f} after "
        "the run. One `memscope run`: the first 10,000 MNIST training images, 10 % symmetric label noise (the `noise` "
        "plugin, seed 0), the `cnn`, the default recipe of configs/mnist.toml (15 epochs), snapshot scores every 2 epochs combined over the "
        "first 40 % of training (GraNd: the snapshot after epoch 2 only, `until_epoch = 2`); forgetting and AUM from "
        f"every training step; train accuracy {r['train_accuracy']:.4f}, test accuracy {r['test_accuracy']:.4f}. "
        f"Training took {t['train_seconds']:.0f} s, scoring {t['score_seconds']:.0f} s, the whole run {r['wall_seconds']:.0f} s.",
        "",
        "| rank | score | AUROC | AP | P@noisy | seconds it adds | where the time goes |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in r["ranking"]["rows"]:
        v = row["values"]
        name = row["score"]
        where = hooks.get(name, "recorded in the training step" if name == "loss" else "the scorer thread, beside the plugins")
        cells = [f"{v[m]:.4f}" if m in v else "-" for m in ("auroc", "average_precision", "precision_at_positives")]
        added = r["added_seconds"].get(name)
        lines.append(f"| {row['rank']} | {name} | " + " | ".join(cells) + f" | {seconds(added)} | {where} |"
                     if added is not None else f"| {row['rank']} | {name} | " + " | ".join(cells) + " | - | - |")
    lines += ["", "\"Seconds it adds\" is the time in the plugin's hooks (`timings.plugins` of `summary.json`); on the CPU "
              "the scorer runs inline, so this time adds to the run's wall time. `eval_loss`'s is the scoring time less "
              "the plugins' `score_batch` time; `loss` is a by-product of training. Forgetting and AUM read each step's "
              "logits, which the trainer copies to the CPU once for both (inside the training time, not counted here). "
              "Each `score_batch` scorer runs its own forward pass; GraNd one backward pass per sample. Rerun: `scripts/fetch-data`, then "
              "`make bench-suite`; every figure is in `bench/results-suite.json`.", ""]
    section = "\n".join(lines)
    text = open(path).read() if os.path.exists(path) else ""
    if HEADING in text:
        start = text.index(HEADING)
        end = text.find("\n## ", start + len(HEADING))
        text = text[:start] + section + (text[end + 1:] if end != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
