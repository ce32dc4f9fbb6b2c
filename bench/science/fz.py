#!/usr/bin/env python3
"""Feldman & Zhang memorization estimates for the window matrix (bench/science/windows.py):
`memscope estimate memorization` of each clean cell's job (bench/science/cells.py), 60
models on 70 % subsets, one estimate per dataset and run length (the memorization of a
5-epoch recipe is that recipe's). Digits uses the default job itself
(`configs/digits.toml`: the `noise` plugin and the scorers do not run in the models).

Each estimate is resumable: run the script again and only missing models train.

    .venv/bin/python bench/science/fz.py [--only digits-e30] [--models 60] [--parallel 2] [--threads 1]
"""

import argparse
import json
import os
import subprocess
import time

from cells import LENGTHS, OUT as CELLS, REPO, cell_name, job_toml
from common import log

BIN = os.path.join(REPO, "target", "release", "memscope")
OUT = os.path.join(REPO, "data", "science", "fz")


def estimate_dir(dataset, epochs):
    return os.path.join(OUT, f"{dataset}-e{epochs}")


def command(dataset, epochs, models, parallel, threads):
    """The `memscope estimate memorization` command of one estimate."""
    if dataset == "digits":
        job, sets = os.path.join(REPO, "configs", "digits.toml"), ["--set", f"train.epochs={epochs}"]
    else:
        job = os.path.join(CELLS, f"{cell_name(dataset, epochs, 'clean')}.toml")
        if not os.path.exists(job):
            os.makedirs(CELLS, exist_ok=True)
            with open(job, "w") as f:
                f.write(job_toml(dataset, epochs, "clean", threads=threads))
        sets = []
    return [BIN, "estimate", "memorization", job, "--models", str(models), "--subset", "0.7", "--dir", estimate_dir(dataset, epochs),
            "--parallel", str(parallel), "--threads", str(threads), "--quiet", *sets]


def run(dataset, epochs, models, parallel, threads):
    """Runs (or completes) one estimate; records its wall time in `wall.json` beside it."""
    argv = command(dataset, epochs, models, parallel, threads)
    log(" ".join(os.path.relpath(a, REPO) if a.startswith(REPO) else a for a in argv))
    started = time.time()
    subprocess.run(argv, check=True)
    wall = time.time() - started
    path = os.path.join(estimate_dir(dataset, epochs), "wall.json")
    walls = json.load(open(path)) if os.path.exists(path) else []
    load = os.getloadavg()
    walls.append({"seconds": wall, "parallel": parallel, "threads": threads, "load_average_1_5_15": load, "ended": time.strftime("%Y-%m-%d %H:%M")})
    json.dump(walls, open(path, "w"), indent=1)
    log(f"  {dataset} e{epochs}: {wall:.0f} s (load average {load[0]:.1f})")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", help="comma-separated estimates, e.g. digits-e30,mnist2k-e5 (default: all, digits first)")
    p.add_argument("--models", type=int, default=60)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    todo = [(d, e) for d in ("digits", "mnist2k") for e in (30, 15, 5)]
    assert set(e for _, e in todo) == set(LENGTHS)
    if args.only:
        todo = [(d, e) for d, e in todo if f"{d}-e{e}" in args.only.split(",")]
    for dataset, epochs in todo:
        run(dataset, epochs, args.models, args.parallel, args.threads)


if __name__ == "__main__":
    main()
