#!/usr/bin/env python3
"""Would K small models train faster stacked in one process? A probe in PyTorch eager,
before building it into memscope: the memorization estimate trains many copies of one
small model (the `cnn` on digits), each on its own seeded 70 % subset.

Trains K models on digits subsets for a few epochs, two ways, in one process with the
same thread count:
  one-by-one  each model alone, as memscope's trainer does (a model per process)
  stacked     the K models as one batched model (torch.func.stack_module_state and
              vmap): each step is one forward/backward over K batches, every op K
              times wider; SGD with momentum is elementwise, so this is K trainings
Prints samples per second (model-samples trained per second) for each, as JSON.

    .venv/bin/python bench/science/stacked.py [--models 8] [--epochs 3] [--threads 2]
"""

import argparse
import copy
import json
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from common import load_digits  # noqa: E402
from train_cnn import build_model  # noqa: E402


def subsets(n, k, fraction, epochs, batch, seed=0):
    """For each model its subset and, per epoch, its batches of indices (same count and
    sizes for every model, as the subsets have the same size)."""
    g = torch.Generator().manual_seed(seed)
    size = round(fraction * n)
    out = []
    for _ in range(k):
        chosen = torch.randperm(n, generator=g)[:size]
        out.append([chosen[torch.randperm(size, generator=g)].split(batch) for _ in range(epochs)])
    return out


def one_by_one(x, y, plan, epochs, lr, momentum):
    for batches in plan:
        model = build_model(8, 8)
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
        for epoch in range(epochs):
            for idx in batches[epoch]:
                loss = F.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()


def stacked(x, y, plan, epochs, lr, momentum):
    models = [build_model(8, 8) for _ in plan]
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")

    def loss_of(p, b, xb, yb):
        return F.cross_entropy(functional_call(base, (p, b), (xb,)), yb)

    losses = vmap(loss_of)
    opt = torch.optim.SGD(list(params.values()), lr=lr, momentum=momentum)
    for epoch in range(epochs):
        for step in range(len(plan[0][epoch])):
            idx = torch.stack([batches[epoch][step] for batches in plan])  # [K, B]
            loss = losses(params, buffers, x[idx], y[idx]).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", type=int, default=8)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    x, y = load_digits()
    n = x.shape[0]
    plan = subsets(n, args.models, 0.7, args.epochs, 64)
    samples = args.models * round(0.7 * n) * args.epochs
    result = {"models": args.models, "epochs": args.epochs, "threads": args.threads, "samples": samples}
    for name, fn in (("one_by_one", one_by_one), ("stacked", stacked)):
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            fn(x, y, plan, args.epochs, 0.05, 0.9)
            times.append(time.perf_counter() - started)
        result[name] = {"seconds": times, "samples_per_second": samples / min(times)}
    result["stacked_speedup"] = result["stacked"]["samples_per_second"] / result["one_by_one"]["samples_per_second"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
