#!/usr/bin/env python3
"""What lower precisions do to input-loss curvature, on the device memscope scores on.

Curvature by finite differences subtracts two nearly equal input gradients,
grad l(x + h v) - grad l(x) at h = 1e-3: rounding in either pass lands in the
difference. This measures how much, before memscope lets its scorer run at a lower
precision (issue 30: "set the scorer's precision by that measurement").

It trains the CIFAR ResNet-18 of resnet18.py (the twin of memscope's `resnet18`) in
float32 on N CIFAR-shaped images with 10 % of the labels flipped (resnet18.py's
`data`), until it has memorized them, then scores every sample in eval mode, with the
same Rademacher directions, under each precision:

  32     float32, TF32 off (cuDNN convolutions and cuBLAS matmuls in IEEE float32):
         the reference
  tf32   float32 tensors, TF32 allowed (libtorch's default for cuDNN convolutions,
         so what memscope's CUDA scorer runs today)
  bf16   autocast to bfloat16, TF32 off
  fp16   autocast to float16, TF32 off (CUDA only)

and by two methods:

  fd     finite differences, || grad l(x + h v) - grad l(x) || / h, as published
  hvp    || H v || by double backward: exact, nothing subtracted

For each it reports the Spearman correlation with the same method at `32` (the
goal: well above the estimate's own noise), the median relative difference, the AUROC
of the flipped labels, and samples/s. Yardsticks: `32` against itself with other
directions (the estimate's noise at this many draws), and fd against hvp at `32`.

Prints a table on stderr and one JSON object to --out.

    .venv/bin/python bench/reference/score_precision.py --device cuda --n 8192 --out precision.json
    .venv/bin/python bench/reference/score_precision.py --n 256 --epochs 3 --out /tmp/p.json   # a CPU try
"""

import argparse
import contextlib
import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from resnet18 import ResNet18, make_data


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--n", type=int, default=8192, help="training images")
    p.add_argument("--epochs", type=int, default=15, help="float32 training epochs before scoring")
    p.add_argument("--draws", type=int, default=10)
    p.add_argument("--h", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=256, help="samples per scoring batch (training: 128)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="where the JSON results go")
    args = p.parse_args()
    if min(args.n, args.epochs, args.draws, args.batch_size, args.threads) < 1 or not args.h > 0:
        p.error("--n, --epochs, --draws, --batch-size, --threads and --h must be positive")
    return args


def set_tf32(on):
    """TF32 for cuDNN convolutions and cuBLAS matmuls (process-wide switches)."""
    torch.backends.cudnn.allow_tf32 = on
    torch.backends.cuda.matmul.allow_tf32 = on


def precision_context(precision, device):
    """TF32 set for the precision, and autocast around the passes when it has one."""
    set_tf32(precision == "tf32")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def train(model, x, y, epochs, seed, device):
    """Float32 SGD with momentum, as memscope's default job trains."""
    set_tf32(False)
    torch.manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(x.shape[0], device=device)
        correct = 0
        for start in range(0, x.shape[0], 128):
            idx = order[start : start + 128]
            logits = model(x[idx])
            loss = F.cross_entropy(logits, y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            correct += (logits.argmax(1) == y[idx]).sum().item()
        log(f"  epoch {epoch + 1}/{epochs}: training accuracy {correct / x.shape[0]:.4f}")
    return model.eval()


def input_gradient(model, x, y, precision, create_graph=False):
    """grad_x of the summed cross-entropy (a sample's gradient does not depend on its
    batch), under `precision`; the loss itself in float32, as autocast leaves it."""
    x = x.detach().requires_grad_()
    with precision_context(precision, x.device):
        logits = model(x)
    loss = F.cross_entropy(logits.float(), y, reduction="sum")
    return x, torch.autograd.grad(loss, x, create_graph=create_graph)[0]


def directions(shape, draws, seed, device):
    """The Rademacher directions of one batch, drawn on the CPU from `seed`: the same
    for every precision and method."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 2, (draws, *shape), generator=g, dtype=torch.float32) * 2 - 1).to(device)


def curvature(model, x, y, method, precision, draws, h, batch_size, seed):
    """Every sample's curvature (mean over draws) by `method` at `precision`."""
    scores = torch.empty(x.shape[0])
    for b, start in enumerate(range(0, x.shape[0], batch_size)):
        inputs, targets = x[start : start + batch_size], y[start : start + batch_size]
        vs = directions(inputs.shape, draws, seed * 1_000_003 + b, x.device)
        total = torch.zeros(inputs.shape[0], device=x.device)
        if method == "fd":
            _, g0 = input_gradient(model, inputs, targets, precision)
            for v in vs:
                _, g = input_gradient(model, inputs + h * v, targets, precision)
                total += (g - g0).flatten(1).norm(dim=1) / h
        else:
            for v in vs:
                xg, g = input_gradient(model, inputs, targets, precision, create_graph=True)
                hv = torch.autograd.grad((g * v).sum(), xg)[0]
                total += hv.flatten(1).norm(dim=1)
        scores[start : start + inputs.shape[0]] = (total / draws).detach().cpu()
    return scores.numpy()


def ranks(a):
    return np.argsort(np.argsort(a))


def spearman(a, b):
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def auroc(scores, positives):
    """Probability that a flipped sample outscores a clean one (ties count half)."""
    r = ranks(scores).astype(np.float64) + 1
    p, n = positives.sum(), (~positives).sum()
    return float((r[positives].sum() - p * (p + 1) / 2) / (p * n))


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    x, y, flip = make_data(args.n, seed=args.seed)
    x = torch.from_numpy(x.astype(np.float32) / 255.0).to(device)  # as memscope reads uint8
    y = torch.from_numpy(y).to(device)
    torch.manual_seed(args.seed)
    model = ResNet18(3, 10).to(device)
    log(f"training the ResNet-18 on {args.n} images, {flip.sum()} labels flipped, {args.epochs} epochs, float32 on {device}")
    model = train(model, x, y, args.epochs, args.seed, device)
    model.requires_grad_(False)  # input gradients only

    precisions = ["32", "tf32", "bf16"] + (["fp16"] if device.type == "cuda" else [])
    runs = {}
    for method in ("fd", "hvp"):
        for precision in precisions:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            scores = curvature(model, x, y, method, precision, args.draws, args.h, args.batch_size, args.seed)
            seconds = time.perf_counter() - start  # .cpu() in the loop waited for the device
            runs[(method, precision)] = (scores, seconds)
            log(f"  scored: {method} at {precision}, {seconds:.1f} s")
    other = curvature(model, x, y, "fd", "32", args.draws, args.h, args.batch_size, args.seed + 1)

    result = {
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "torch": torch.__version__,
        "n": args.n,
        "epochs": args.epochs,
        "draws": args.draws,
        "h": args.h,
        "yardsticks": {
            "fd_32_other_directions_spearman": spearman(runs[("fd", "32")][0], other),
            "fd_vs_hvp_at_32_spearman": spearman(runs[("fd", "32")][0], runs[("hvp", "32")][0]),
        },
        "runs": [],
    }
    log(f"\n  {'method':<6} {'precision':<9} {'Spearman vs 32':>15} {'median rel. diff':>17} {'AUROC flipped':>14} {'samples/s':>10}")
    for (method, precision), (scores, seconds) in runs.items():
        reference = runs[(method, "32")][0]
        finite = np.isfinite(scores).all()
        row = {
            "method": method,
            "precision": precision,
            "finite": bool(finite),
            "spearman_vs_32": spearman(scores, reference) if finite else None,
            "median_relative_difference": float(np.median(np.abs(scores - reference) / np.maximum(np.abs(reference), 1e-12))),
            "auroc_flipped": auroc(scores, flip) if finite else None,
            "seconds": seconds,
            "samples_per_second": args.n / seconds,
        }
        result["runs"].append(row)
        show = lambda v, f: format(v, f) if v is not None else "non-finite"  # noqa: E731
        log(f"  {method:<6} {precision:<9} {show(row['spearman_vs_32'], '15.6f')} {row['median_relative_difference']:17.2e} "
            f"{show(row['auroc_flipped'], '14.4f')} {row['samples_per_second']:10.0f}")
    y_ = result["yardsticks"]
    log(f"  yardsticks at 32: fd with other directions, Spearman {y_['fd_32_other_directions_spearman']:.6f}; "
        f"fd against hvp {y_['fd_vs_hvp_at_32_spearman']:.6f}")
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
