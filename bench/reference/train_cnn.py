#!/usr/bin/env python3
"""PyTorch eager reference for memscope's training throughput (its `cnn`, or its
`resnet18` with --model resnet18), on the CPU or a GPU (--device), in fp32 or with
autocast (--precision).

The model, optimizer and per-batch work deliberately mirror what memscope
does, so the two numbers can be compared side by side: same architecture,
plain SGD, per-sample losses kept (detached) for every batch, last partial
batch included, a fixed thread count on the CPU.

Prints exactly one JSON line to stdout; everything else goes to stderr.

Timing caveat: torch's OpenMP workers spin-wait between ops. If another
process is busy on one of the --threads cores (e.g. a compile), each tiny op
waits for a descheduled worker and throughput can collapse by 10x or more.
Benchmark on an otherwise idle machine; OMP_WAIT_POLICY=PASSIVE in the
environment makes contended runs far less pathological, but is not the
default behaviour we are comparing against, so it is not set here.

Examples:
    .venv/bin/python bench/reference/train_cnn.py --epochs 3
    .venv/bin/python bench/reference/train_cnn.py --data idx \\
        --images data/mnist/train-images-idx3-ubyte \\
        --labels data/mnist/train-labels-idx1-ubyte --epochs 1
"""

import argparse
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import add_data_args, load_data_args


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(p)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", choices=["cnn", "resnet18"], default="cnn",
                   help="memscope's `cnn`, or its `resnet18` (the twin in resnet18.py)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N; the data is put on it once, before timing")
    p.add_argument("--precision", choices=["32", "bf16-mixed", "fp16-mixed"], default="32",
                   help="autocast in the training step, fp32 weights (fp16: with a gradient scaler), as memscope's train.precision")
    p.add_argument("--cudnn-benchmark", action="store_true",
                   help="torch.backends.cudnn.benchmark = True (memscope: MEMSCOPE_CUDNN_BENCHMARK=1)")
    args = p.parse_args()
    if args.data == "idx" and not (args.images and args.labels):
        p.error("--data idx requires --images and --labels")
    if args.epochs < 1 or args.batch_size < 1 or args.threads < 1:
        p.error("--epochs, --batch-size and --threads must be positive")
    return args


def build_model(height, width):
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * (height // 2) * (width // 2), 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


@torch.no_grad()
def accuracy(model, x, y, chunk=1024):
    model.eval()
    correct = 0
    for start in range(0, x.shape[0], chunk):
        logits = model(x[start : start + chunk])
        correct += (logits.argmax(dim=1) == y[start : start + chunk]).sum().item()
    model.train()
    return correct / x.shape[0]


def main():
    args = parse_args()

    # Interop threads can only be set before any parallel work has started,
    # so this must come first. Pinning both keeps the comparison with
    # memscope's thread count honest.
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    torch.manual_seed(args.seed)

    x, y, data_name = load_data_args(args)
    n, channels, height, width = x.shape
    log(f"data: {data_name} x={tuple(x.shape)} y={tuple(y.shape)}")

    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    if args.model == "cnn":
        model = build_model(height, width)
    else:
        from resnet18 import ResNet18

        model = ResNet18(channels, int(y.max()) + 1)
    model, x, y = model.to(device), x.to(device), y.to(device)
    autocast = {"32": None, "bf16-mixed": torch.bfloat16, "fp16-mixed": torch.float16}[args.precision]
    scaler = torch.amp.GradScaler(device.type, enabled=args.precision == "fp16-mixed")
    opt = torch.optim.SGD(
        model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay
    )

    # Separate generator so shuffling does not depend on how many random
    # numbers parameter initialisation happened to consume.
    shuffle_gen = torch.Generator().manual_seed(args.seed)

    # Per-sample losses for every epoch, indexed by sample id. Filled with
    # detached tensors and never read inside the loop, so recording costs no
    # synchronisation or Python float conversion (this mirrors memscope).
    losses = torch.empty(args.epochs, n, device=device)

    start = time.perf_counter()
    for epoch in range(args.epochs):
        perm = torch.randperm(n, generator=shuffle_gen).to(device)
        for b in range(0, n, args.batch_size):
            idx = perm[b : b + args.batch_size]
            with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
                logits = model(x[idx])
                per_sample = F.cross_entropy(logits.float(), y[idx], reduction="none")
            loss = per_sample.mean()
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            losses[epoch].index_copy_(0, idx, per_sample.detach())
    if device.type == "cuda":
        torch.cuda.synchronize()
    train_seconds = time.perf_counter() - start
    losses = losses.cpu()

    epoch_means = losses.mean(dim=1).tolist()
    for epoch, mean in enumerate(epoch_means):
        log(f"epoch {epoch + 1}/{args.epochs}: mean train loss {mean:.4f}")

    acc = accuracy(model, x, y)
    log(f"final train accuracy {acc:.4f}, {train_seconds:.3f}s")

    print(
        json.dumps(
            {
                "impl": "pytorch-eager",
                "model": args.model,
                "device": args.device,
                "precision": args.precision,
                "data": data_name,
                "samples": n,
                "epochs": args.epochs,
                "batch_size": args.batch_size,
                "threads": args.threads,
                "train_seconds": train_seconds,
                "samples_per_second": n * args.epochs / train_seconds,
                "final_train_accuracy": acc,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
