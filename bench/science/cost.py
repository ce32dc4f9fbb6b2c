#!/usr/bin/env python3
"""What a memorization estimate costs on this machine, and how to run its models: the
same 8 models of the default digits job (the `cnn`, 30 epochs, 70 % subsets) trained by
`memscope estimate memorization` one at a time with 2 threads, two at a time with 1
thread each, and one at a time with 1 thread, in turns (A B C A B C ...), each from
scratch in a fresh directory. Prints and appends to bench/science/cost.json the wall
seconds of each, with the load average, since the machine is shared.

    .venv/bin/python bench/science/cost.py [--models 8] [--repeats 2]
"""

import argparse
import json
import os
import shutil
import subprocess
import time

from common import REPO, log

BIN = os.path.join(REPO, "target", "release", "memscope")
WAYS = {"1 at a time, 2 threads": (1, 2), "2 at a time, 1 thread each": (2, 1), "1 at a time, 1 thread": (1, 1)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--epochs", type=int, default=30)
    args = p.parse_args()
    path = os.path.join(REPO, "bench", "science", "cost.json")
    results = json.load(open(path)) if os.path.exists(path) else []
    for repeat in range(args.repeats):
        for way, (parallel, threads) in WAYS.items():
            out = os.path.join(REPO, "data", "science", "cost", f"p{parallel}-t{threads}")
            shutil.rmtree(out, ignore_errors=True)
            before = os.getloadavg()
            started = time.time()
            subprocess.run([BIN, "estimate", "memorization", os.path.join(REPO, "configs", "digits.toml"), "--models", str(args.models),
                            "--dir", out, "--parallel", str(parallel), "--threads", str(threads), "--quiet",
                            "--set", f"train.epochs={args.epochs}"], check=True, stdout=subprocess.DEVNULL)
            wall = time.time() - started
            row = {"way": way, "models": args.models, "epochs": args.epochs, "seconds": wall, "seconds_per_model": wall / args.models,
                   "load_before": before, "load_after": os.getloadavg(), "when": time.strftime("%Y-%m-%d %H:%M")}
            results.append(row)
            json.dump(results, open(path, "w"), indent=1)
            log(f"{way}: {wall:.0f} s ({wall / args.models:.1f} s per model), load {before[0]:.1f} -> {row['load_after'][0]:.1f}")


if __name__ == "__main__":
    main()
