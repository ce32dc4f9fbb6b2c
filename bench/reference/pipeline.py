#!/usr/bin/env python3
"""The published two-stage pipeline, end to end, for memscope's end-to-end benchmark.

Stage 1 trains the reference cnn for --epochs epochs (SGD as memscope's bench
job) and saves a checkpoint after every epoch, as the authors' training script
does. Stage 2 loads the checkpoint of every --every-th epoch (and the last) and
scores every training sample with the published curvature procedure (per draw:
forward at x + h v and at x, gradient of the difference, batch 512). The score
of a sample is the mean over scored epochs.

Timed: the whole of both stages, checkpoint writing and loading included (what
a user waits for). Prints one JSON line; logs go to stderr.

Example:
    .venv/bin/python bench/reference/pipeline.py --epochs 10 --every 2 --out /tmp/p.npy
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

from common import add_data_args, load_data_args
from score_curvature import Cnn, curvature_published


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(p)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--every", type=int, default=1, help="score every k-th epoch (and the last)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--draws", type=int, default=10)
    p.add_argument("--h", type=float, default=1e-3)
    p.add_argument("--score-batch-size", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="where to np.save the [N] float32 scores")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    torch.manual_seed(args.seed)
    x, y, name = load_data_args(args)
    n, _, height, width = x.shape
    log(f"data: {name} x={tuple(x.shape)}")

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as ckpt_dir:
        model = Cnn(height, width)
        opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
        shuffle = torch.Generator().manual_seed(args.seed)
        losses = torch.empty(args.epochs, n)
        for epoch in range(args.epochs):
            model.train()
            perm = torch.randperm(n, generator=shuffle)
            for b in range(0, n, args.batch_size):
                idx = perm[b : b + args.batch_size]
                per_sample = F.cross_entropy(model(x[idx]), y[idx], reduction="none")
                opt.zero_grad(set_to_none=True)
                per_sample.mean().backward()
                opt.step()
                losses[epoch].index_copy_(0, idx, per_sample.detach())
            torch.save(model.state_dict(), os.path.join(ckpt_dir, f"epoch-{epoch + 1}.pt"))
        train_seconds = time.perf_counter() - started

        scored = [e for e in range(1, args.epochs + 1) if e % args.every == 0 or e == args.epochs]
        total = torch.zeros(n)
        for e in scored:
            scorer = Cnn(height, width)
            scorer.load_state_dict(torch.load(os.path.join(ckpt_dir, f"epoch-{e}.pt")))
            scorer.eval()
            total += curvature_published(scorer, x, y, args.draws, args.h, args.score_batch_size, 0)
            log(f"scored epoch {e}")
    seconds = time.perf_counter() - started
    np.save(args.out, (total / len(scored)).numpy().astype(np.float32))
    print(
        json.dumps(
            {
                "impl": "pytorch-published-pipeline",
                "samples": n,
                "epochs": args.epochs,
                "scored_epochs": len(scored),
                "seconds": seconds,
                "train_seconds": train_seconds,
                "score_seconds": seconds - train_seconds,
                "threads": args.threads,
                "scores": args.out,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
