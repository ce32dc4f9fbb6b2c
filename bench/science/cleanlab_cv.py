#!/usr/bin/env python3
"""cleanlab's label quality from K-fold cross-validated predicted probabilities: what a
peer user would pick instead of memscope. The same architecture as memscope's `cnn`
(bench/reference/train_cnn.py's twin), the same recipe (epochs, batch, lr, momentum,
weight decay, schedule), trained on the labels memscope trained on (its run's
`labels.npy`, after the noise plugin), each fold's model predicting the held-out fold.

Prints one JSON line: {"seconds", "scores": 1 - label quality, per sample}. With
`--save-probs FILE` it also writes the cross-validated probabilities (float32 [N, C], .npy),
from which bench/science/verdict.py runs cleanlab's `find_label_issues`, and keeps each
finished fold beside it (FILE.foldK.npy, with its training seconds in FILE.foldK.json), so
that an interrupted run trains only the folds still missing; `seconds` counts every fold's
training, also those of an earlier run.

    .venv/bin/python bench/science/cleanlab_cv.py --run-dir RUN --images F --limit N [--folds 5] [--save-probs F]
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from common import load_idx  # noqa: E402


class Cnn(nn.Module):
    """memscope's `cnn`: conv3x3(32)-ReLU-conv3x3(64)-ReLU-maxpool2-fc(128)-ReLU-fc."""

    def __init__(self, side, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * (side // 2) ** 2, 128)
        self.fc2 = nn.Linear(128, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2).flatten(1)
        return self.fc2(F.relu(self.fc1(x)))


def lr_at(recipe, epoch):
    if recipe["schedule"] == "cosine":
        return recipe["lr"] * 0.5 * (1 + math.cos(math.pi * epoch / recipe["epochs"]))
    if recipe["schedule"] == "step":
        return recipe["lr"] * recipe.get("gamma", 0.1) ** (epoch // recipe.get("step_epochs", 10))
    return recipe["lr"]


def train_predict(x, y, train_idx, test_idx, recipe, classes, seed):
    torch.manual_seed(seed)
    model = Cnn(x.shape[-1], classes)
    opt = torch.optim.SGD(model.parameters(), lr=recipe["lr"], momentum=recipe["momentum"], weight_decay=recipe["weight_decay"])
    g = torch.Generator().manual_seed(seed)
    for epoch in range(recipe["epochs"]):
        for group in opt.param_groups:
            group["lr"] = lr_at(recipe, epoch)
        model.train()
        order = train_idx[torch.randperm(len(train_idx), generator=g)]
        for start in range(0, len(order), recipe["batch_size"]):
            b = order[start:start + recipe["batch_size"]]
            loss = F.cross_entropy(model(x[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        return torch.cat([F.softmax(model(x[test_idx[s:s + 1024]]), -1) for s in range(0, len(test_idx), 1024)])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--run-dir", required=True)
    p.add_argument("--images", required=True)
    p.add_argument("--image-labels", required=True)
    p.add_argument("--limit", type=int, required=True)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--recipe", required=True, help="JSON: epochs, batch_size, lr, momentum, weight_decay, schedule[, step_epochs, gamma]")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-probs", help="write the cross-validated probabilities here (.npy)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from cleanlab.rank import get_label_quality_scores

    recipe = json.loads(args.recipe)
    x, _ = load_idx(args.images, args.image_labels)
    x = x[: args.limit].contiguous()
    y = torch.from_numpy(np.load(os.path.join(args.run_dir, "labels.npy")).astype(np.int64))
    assert len(y) == len(x), (len(y), len(x))
    classes = int(y.max()) + 1
    folds = torch.randperm(len(x), generator=torch.Generator().manual_seed(args.seed)) % args.folds
    probs = torch.zeros(len(x), classes)
    seconds = 0.0
    for k in range(args.folds):
        test_idx = torch.nonzero(folds == k).flatten()
        train_idx = torch.nonzero(folds != k).flatten()
        kept = f"{args.save_probs}.fold{k}" if args.save_probs else None
        if kept and os.path.exists(f"{kept}.json"):
            probs[test_idx] = torch.from_numpy(np.load(f"{kept}.npy"))
            seconds += json.load(open(f"{kept}.json"))["seconds"]
            print(f"fold {k + 1}/{args.folds} kept from an earlier run", file=sys.stderr, flush=True)
            continue
        started = time.time()
        probs[test_idx] = train_predict(x, y, train_idx, test_idx, recipe, classes, args.seed + k)
        took = time.time() - started
        seconds += took
        if kept:
            np.save(f"{kept}.npy", probs[test_idx].numpy().astype(np.float32))
            json.dump({"seconds": took}, open(f"{kept}.json", "w"))
        print(f"fold {k + 1}/{args.folds} done in {took:.0f} s ({time.strftime('%H:%M:%S')})", file=sys.stderr, flush=True)
    quality = get_label_quality_scores(y.numpy(), probs.numpy())
    if args.save_probs:
        np.save(args.save_probs, probs.numpy().astype(np.float32))
    print(json.dumps({"seconds": seconds, "scores": (1.0 - quality).tolist()}))


if __name__ == "__main__":
    main()
