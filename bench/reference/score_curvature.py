#!/usr/bin/env python3
"""PyTorch eager reference for memscope's curvature scoring throughput.

Scores every digits sample by input-loss curvature (Garg, Ravikumar & Roy, ICML
2024) with the weights of a memscope checkpoint, in eval mode:

    Curv(x) = (1/n) sum_i || grad_x l(x + h v_i) - grad_x l(x) ||,  v_i Rademacher

(the published code, like this script, omits memscope's constant 1/h: rankings
are unaffected). Two variants:

  published  the authors' procedure: per batch and per draw, two forward passes
             (x + h v and x) and one backward of the difference of the
             per-sample losses, so grad_x l(x) is recomputed for every draw.
  stacked    the fastest eager form of the same estimate we know: sum-reduced
             loss (a sample's input gradient does not depend on its batch),
             grad_x l(x) once per batch, all draws stacked into one
             forward/backward of [draws * B] rows (or passes of at most
             --max-rows rows: on CPU, passes of ~1k rows whose activations stay
             in cache are faster than one 5k-row pass), parameters frozen (no
             weight gradients), in-place ReLUs, grad differences and norms under
             no_grad.

Only the scoring pass is timed (data and weight loading, and the eval-mode
loss/accuracy check, are not). Prints exactly one JSON line to stdout and saves
the [N] float32 scores with np.save; logs go to stderr. The same caveat as
train_cnn.py applies: libtorch's OpenMP workers spin, benchmark on an idle
machine.

Example:
    .venv/bin/python bench/reference/score_curvature.py \\
        --weights runs/bench-curvature/checkpoints/epoch-000010/model.safetensors \\
        --variant stacked --seed 1 --out /tmp/curv.npy
"""

import argparse
import json
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import add_data_args, load_data_args


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True, help="memscope model.safetensors (cnn)")
    add_data_args(p)
    p.add_argument("--variant", choices=["published", "stacked"], required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--draws", type=int, default=10)
    p.add_argument("--h", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument(
        "--max-rows",
        type=int,
        default=0,
        help="stacked: most rows (samples x draws) per forward/backward; 0 = all draws of a batch in one pass",
    )
    p.add_argument("--warmup", type=int, default=0, help="untimed scoring passes before the timed one")
    p.add_argument("--channels-last", action="store_true", help="keep the network and inputs channels-last (NHWC strides), as memscope")
    p.add_argument(
        "--pool-first",
        action="store_true",
        help="max-pool before the second ReLU, as memscope's cnn does: the same function, with the ReLU on a quarter of the values",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="where to np.save the [N] float32 scores")
    args = p.parse_args()
    if min(args.threads, args.draws, args.batch_size) < 1 or args.max_rows < 0 or args.warmup < 0:
        p.error("--threads, --draws and --batch-size must be positive, --max-rows and --warmup not negative")
    if not (args.h > 0 and np.isfinite(args.h)):
        p.error("--h must be a positive step")
    return args


class Cnn(nn.Module):
    """memscope's `cnn` (runtime/src/model/zoo.rs), with its parameter names."""

    def __init__(self, height=8, width=8, classes=10, inplace=False, pool_first=False, channels_last=False):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * (height // 2) * (width // 2), 128)
        self.fc2 = nn.Linear(128, classes)
        self.inplace = inplace
        self.pool_first = pool_first
        self.channels_last = channels_last

    def forward(self, x):
        relu = lambda t: F.relu(t, inplace=self.inplace)  # noqa: E731
        x = self.conv1(x)
        if self.channels_last:
            # With one input channel, conv1 returns NCHW even from channels-last
            # weights; conv2 then returns channels-last gradients, and ReLU's backward
            # meets two layouts (a slow strided loop plus copies). Converting here
            # made a forward/input-backward pass about 12 % faster.
            x = x.contiguous(memory_format=torch.channels_last)
        x = relu(x)
        if self.pool_first:
            x = relu(F.max_pool2d(self.conv2(x), 2))
        else:
            x = F.max_pool2d(relu(self.conv2(x)), 2)
        x = x.flatten(1)  # NCHW order, as memscope (tch) flattens
        x = relu(self.fc1(x))
        return self.fc2(x)


def load_model(path, inplace, height=8, width=8, pool_first=False, channels_last=False):
    from safetensors.torch import load_file

    state = load_file(path)
    model = Cnn(height, width, inplace=inplace, pool_first=pool_first, channels_last=channels_last)
    model.load_state_dict(state, strict=True)  # any missing/unexpected/misshaped tensor is an error
    return model.eval()


@torch.no_grad()
def eval_loss_accuracy(model, x, y):
    logits = model(x)
    return F.cross_entropy(logits, y).item(), (logits.argmax(dim=1) == y).float().mean().item()


def curvature_published(model, x, y, draws, h, batch_size, max_rows):
    """The authors' loop, kept as written (per draw: 2 forwards, 1 backward)."""
    del max_rows
    scores = torch.empty(x.shape[0], device=x.device)
    for start in range(0, x.shape[0], batch_size):
        inputs = x[start : start + batch_size].clone()
        targets = y[start : start + batch_size]
        curv = torch.zeros(inputs.shape[0], device=inputs.device)
        for _ in range(draws):
            v = torch.randint_like(inputs, high=2) * 2 - 1
            inputs.requires_grad_()
            out_pos = model(inputs + h * v)
            out_orig = model(inputs)
            loss_pos = F.cross_entropy(out_pos, targets, reduction="none")
            loss_orig = F.cross_entropy(out_orig, targets, reduction="none")
            grad_diff = torch.autograd.grad((loss_pos - loss_orig).sum(), inputs)[0]
            curv += grad_diff.flatten(1).norm(dim=1).detach()
        scores[start : start + inputs.shape[0]] = curv / draws
    return scores


def curvature_stacked(model, x, y, draws, h, batch_size, max_rows):
    """Same estimate; grad_x l(x) once per batch, draws stacked into one pass."""
    scores = torch.empty(x.shape[0])
    for start in range(0, x.shape[0], batch_size):
        inputs = x[start : start + batch_size]
        targets = y[start : start + batch_size]
        b = inputs.shape[0]
        per_pass = draws if max_rows == 0 else max(1, min(draws, max_rows // b))

        x0 = inputs.detach().requires_grad_()
        g0 = torch.autograd.grad(F.cross_entropy(model(x0), targets, reduction="sum"), x0)[0].view(1, b, -1)

        with torch.no_grad():
            v = torch.randint(0, 2, (draws, *inputs.shape), dtype=inputs.dtype).mul_(2 * h).sub_(h)  # h * (+-1)
            shifted = v.add_(inputs)  # x + h v, in place over the directions
        total = torch.zeros(b)
        for d in range(0, draws, per_pass):
            k = min(per_pass, draws - d)
            xs = shifted[d : d + k].reshape(k * b, *inputs.shape[1:]).requires_grad_()
            loss = F.cross_entropy(model(xs), targets.repeat(k), reduction="sum")
            g = torch.autograd.grad(loss, xs)[0]
            with torch.no_grad():
                total += (g.view(k, b, -1) - g0).norm(dim=2).sum(dim=0)
        scores[start : start + b] = total / draws
    return scores


def main():
    args = parse_args()

    # Interop threads can only be set before any parallel work has started.
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)

    x, y, _ = load_data_args(args)
    stacked = args.variant == "stacked"
    model = load_model(args.weights, inplace=stacked, height=x.shape[2], width=x.shape[3], pool_first=args.pool_first, channels_last=args.channels_last)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if stacked:
        # Only input gradients are needed: freezing the weights keeps autograd from
        # computing (and the engine from even considering) weight gradients.
        model.requires_grad_(False)
    loss, acc = eval_loss_accuracy(model, x, y)
    log(f"{args.weights}: eval-mode train loss {loss:.6g}, accuracy {acc:.4f}")

    fn = curvature_stacked if stacked else curvature_published
    for i in range(args.warmup):
        torch.manual_seed(args.seed + 1_000_003 * (i + 1))
        fn(model, x, y, args.draws, args.h, args.batch_size, args.max_rows)

    torch.manual_seed(args.seed)
    start = time.perf_counter()
    scores = fn(model, x, y, args.draws, args.h, args.batch_size, args.max_rows)
    seconds = time.perf_counter() - start

    scores = scores.numpy().astype(np.float32)
    if not np.all(np.isfinite(scores)):
        log(f"warning: {np.sum(~np.isfinite(scores))} non-finite scores")
    np.save(args.out, scores)
    n = x.shape[0]
    log(f"{args.variant}: {n} samples in {seconds:.3f}s ({n / seconds:.0f} samples/s), scores -> {args.out}")

    print(
        json.dumps(
            {
                "impl": f"pytorch-{args.variant}",
                "samples": n,
                "seconds": seconds,
                "samples_per_second": n / seconds,
                "draws": args.draws,
                "h": args.h,
                "batch_size": args.batch_size,
                "max_rows": args.max_rows,
                "warmup": args.warmup,
                "channels_last": args.channels_last,
                "pool_first": args.pool_first,
                "threads": args.threads,
                "seed": args.seed,
                "eval_loss": loss,
                "eval_accuracy": acc,
                "scores": args.out,
                "torch": torch.__version__,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
