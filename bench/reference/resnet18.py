#!/usr/bin/env python3
"""ResNet-18 (CIFAR variant) in PyTorch, the twin of memscope's built-in
(runtime/src/model/resnet.rs, same parameter names), for the TorchScript scoring
benchmark (bench/torchscript.sh). torchvision is not needed.

    resnet18.py export --out net.pt [--classes 10] [--seed 0]
        torch.jit.script(ResNet18).save(out): the model memscope trains and scores.
    resnet18.py script-weights --weights model.safetensors --out trained.pt
        the same with a memscope checkpoint's weights (a trained model to start from).
    resnet18.py data --out data.npz [--n 256] [--classes 10] [--seed 0] [--flip 0.1] [--shape 3x32x32]
        CIFAR-shaped random data: x uint8 [N, 3, 32, 32], y int64 [N] (memscope's npz):
        a random pattern per class, noise per image, a fraction of labels flipped.
    resnet18.py score --weights model.safetensors --data data.npz --out scores.npy ...
        the published curvature loop (bench/reference/score_curvature.py) on the weights
        of a memscope checkpoint of that model, in eval mode; one JSON line on stdout.
"""

import argparse
import contextlib
import json
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from score_curvature import curvature_published


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.has_shortcut = stride != 1 or c_in != c_out
        if self.has_shortcut:
            self.shortcut_conv = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
            self.shortcut_bn = nn.BatchNorm2d(c_out)
        else:
            self.shortcut_conv = nn.Identity()
            self.shortcut_bn = nn.Identity()

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        skip = self.shortcut_bn(self.shortcut_conv(x)) if self.has_shortcut else x
        return F.relu(y + skip)


class ResNet18(nn.Module):
    """3x3 stride-1 stem without max-pool (32x32 inputs keep their resolution)."""

    def __init__(self, channels: int = 3, classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(channels, 64, 3, stride=1, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(64)
        self.layer1 = nn.Sequential(BasicBlock(64, 64, 1), BasicBlock(64, 64, 1))
        self.layer2 = nn.Sequential(BasicBlock(64, 128, 2), BasicBlock(128, 128, 1))
        self.layer3 = nn.Sequential(BasicBlock(128, 256, 2), BasicBlock(256, 256, 1))
        self.layer4 = nn.Sequential(BasicBlock(256, 512, 2), BasicBlock(512, 512, 1))
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = F.relu(self.stem_bn(self.stem(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def read_safetensors(path):
    """Every tensor of a safetensors file (the format is an 8-byte header length, a JSON
    header, then raw little-endian data), without the safetensors package."""
    dtypes = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8}
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        array = np.frombuffer(data[start:end], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors


def export(args):
    torch.manual_seed(args.seed)
    torch.jit.script(ResNet18(3, args.classes)).save(args.out)
    print(f"saved {args.out}", file=sys.stderr)


def script_weights(args):
    """The model with a memscope checkpoint's weights, scripted again: a trained model
    to start later benchmark rounds from."""
    model = ResNet18(3, args.classes)
    model.load_state_dict(read_safetensors(args.weights), strict=True)
    torch.jit.script(model).save(args.out)
    print(f"saved {args.out} with the weights of {args.weights}", file=sys.stderr)


def make_data(n, classes=10, seed=0, flip=0.1, shape=(3, 32, 32)):
    """Random images a network can learn: a random pattern per class plus each image's
    own noise, with a fraction `flip` of the labels changed to another class (those it
    can only memorize). Returns x uint8 [N, *shape], y int64 [N] and the flip mask."""
    rng = np.random.default_rng(seed)
    patterns = rng.uniform(-1, 1, size=(classes, *shape))
    y = rng.integers(0, classes, size=n)
    x = np.clip(127.5 + 40 * patterns[y] + 50 * rng.standard_normal((n, *shape)), 0, 255).astype(np.uint8)
    flipped = rng.random(n) < flip
    y = np.where(flipped, (y + rng.integers(1, classes, size=n)) % classes, y).astype(np.int64)
    return x, y, flipped


def data(args):
    """`make_data`, saved as memscope's npz."""
    shape = tuple(int(d) for d in args.shape.split("x"))
    x, y, flipped = make_data(args.n, args.classes, args.seed, args.flip, shape)
    np.savez(args.out, x=x, y=y)
    print(f"saved {args.out}: {args.n} random {args.shape} images, {args.classes} classes, {flipped.sum()} labels flipped", file=sys.stderr)


def score(args):
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    arrays = np.load(args.data)
    x = torch.from_numpy(arrays["x"].astype(np.float32) / 255.0)  # as memscope reads uint8
    y = torch.from_numpy(arrays["y"].astype(np.int64))
    model = ResNet18(x.shape[1], int(args.classes))
    model.load_state_dict(read_safetensors(args.weights), strict=True)
    device = torch.device(args.device)
    model, x, y = model.to(device).eval(), x.to(device), y.to(device)
    with torch.no_grad():
        logits = model(x[: args.batch_size])
        check_loss = F.cross_entropy(logits, y[: args.batch_size]).item()
    torch.manual_seed(args.seed)
    profiling = contextlib.nullcontext()
    if args.profile:
        # The same profiler memscope's MEMSCOPE_PROFILE_SCORING runs (Kineto).
        activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if device.type == "cuda" else [])
        profiling = torch.profiler.profile(activities=activities, record_shapes=True)
    start = time.perf_counter()
    with profiling as profiler:
        scores = curvature_published(model, x, y, args.draws, args.h, args.batch_size, 0).cpu()  # waits for the GPU
    seconds = time.perf_counter() - start
    if args.profile:
        profiler.export_chrome_trace(args.profile)
    np.save(args.out, scores.numpy().astype(np.float32))
    n = x.shape[0]
    print(json.dumps({"impl": "pytorch-published", "samples": n, "seconds": seconds, "samples_per_second": n / seconds,
                      "draws": args.draws, "h": args.h, "batch_size": args.batch_size, "threads": args.threads,
                      "seed": args.seed, "device": args.device, "check_loss": check_loss, "scores": args.out, "torch": torch.__version__}), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export")
    e.add_argument("--out", required=True)
    e.add_argument("--classes", type=int, default=10)
    e.add_argument("--seed", type=int, default=0)
    w = sub.add_parser("script-weights")
    w.add_argument("--weights", required=True, help="a memscope checkpoint's model.safetensors of this model")
    w.add_argument("--out", required=True)
    w.add_argument("--classes", type=int, default=10)
    d = sub.add_parser("data")
    d.add_argument("--out", required=True)
    d.add_argument("--n", type=int, default=256)
    d.add_argument("--classes", type=int, default=10)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--flip", type=float, default=0.1, help="fraction of labels changed to another class")
    d.add_argument("--shape", default="3x32x32", help="CxHxW of the images (1x28x28: MNIST-shaped)")
    s = sub.add_parser("score")
    s.add_argument("--weights", required=True, help="a memscope checkpoint's model.safetensors of this model")
    s.add_argument("--data", required=True)
    s.add_argument("--classes", type=int, default=10)
    s.add_argument("--out", required=True)
    s.add_argument("--draws", type=int, default=10)
    s.add_argument("--h", type=float, default=1e-3)
    s.add_argument("--batch-size", type=int, default=128)
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (the one memscope's job names)")
    s.add_argument("--profile", help="save a Chrome trace of the scoring pass here (torch.profiler; the timing then includes its overhead)")
    args = p.parse_args()
    {"export": export, "script-weights": script_weights, "data": data, "score": score}[args.command](args)


if __name__ == "__main__":
    main()
