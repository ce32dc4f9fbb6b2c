"""Dataset loaders shared by the PyTorch reference benchmarks.

Both loaders return the whole dataset as in-memory tensors (float32 images
shaped [N, 1, H, W] scaled to [0, 1], int64 labels shaped [N]) so that the
timed training loop measures compute, not I/O or decoding.
"""

import gzip
import os
import struct

import numpy as np
import torch

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DIGITS_CSV = os.path.join(REPO_ROOT, "runtime", "assets", "digits.csv.gz")

IDX_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension


def load_digits(path=DIGITS_CSV):
    """sklearn digits: 64 pixels in 0..16 (row-major 8x8) then the label."""
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape[1] != 65:
        raise ValueError(f"{path}: expected 65 columns, got {table.shape[1]}")
    x = torch.from_numpy(table[:, :64].astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = torch.from_numpy(table[:, 64].copy())
    return x, y


def _read_maybe_gzip(path):
    # Decide by content, not by file name: fetch-data keeps MNIST raw and
    # Fashion-MNIST gzipped, and users may have either form lying around.
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw


def _idx_header(raw, path, magic_want, ndims):
    magic = struct.unpack(">I", raw[:4])[0]
    if magic != magic_want:
        raise ValueError(f"{path}: IDX magic 0x{magic:08x}, expected 0x{magic_want:08x}")
    dims = struct.unpack(f">{ndims}I", raw[4 : 4 + 4 * ndims])
    offset = 4 + 4 * ndims
    expected = offset + int(np.prod(dims))
    if len(raw) != expected:
        raise ValueError(f"{path}: {len(raw)} bytes, header implies {expected}")
    return dims, offset


def load_idx(images_path, labels_path):
    """MNIST-style IDX pair (raw or gzip); pixels 0..255 scaled by 1/255."""
    raw = _read_maybe_gzip(images_path)
    (n, rows, cols), off = _idx_header(raw, images_path, IDX_IMAGES_MAGIC, 3)
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=off).reshape(n, 1, rows, cols)
    x = torch.from_numpy(pixels.astype(np.float32) / 255.0)

    raw = _read_maybe_gzip(labels_path)
    (n_labels,), off = _idx_header(raw, labels_path, IDX_LABELS_MAGIC, 1)
    if n_labels != n:
        raise ValueError(f"{labels_path}: {n_labels} labels for {n} images in {images_path}")
    y = torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=off).astype(np.int64))
    return x, y


def add_data_args(p):
    """The dataset options every reference script takes, as memscope's [data]."""
    p.add_argument("--data", choices=["digits", "idx", "npz"], default="digits")
    p.add_argument("--path", help="npz file with x uint8 [N, C, H, W] and y [N] (memscope's npz), for --data npz")
    p.add_argument("--images", help="IDX images file (raw or gzip), for --data idx")
    p.add_argument("--labels", help="IDX labels file (raw or gzip), for --data idx")
    p.add_argument("--limit", type=int, default=0, help="only the first N training samples (as memscope's data.limit)")


def load_data_args(args):
    """(x, y, name) for the options of add_data_args."""
    if args.data == "digits":
        x, y, name = *load_digits(), "digits"
    elif args.data == "npz":
        if not args.path:
            raise SystemExit("--data npz requires --path")
        arrays = np.load(args.path)
        # As memscope reads uint8 pixels.
        x = torch.from_numpy(arrays["x"].astype(np.float32) / 255.0)
        y = torch.from_numpy(arrays["y"].astype(np.int64))
        name = f"npz:{args.path}"
    else:
        if not (args.images and args.labels):
            raise SystemExit("--data idx requires --images and --labels")
        x, y = load_idx(args.images, args.labels)
        name = f"idx:{args.images}"
    if args.limit > 0:
        x, y = x[: args.limit].contiguous(), y[: args.limit].contiguous()
    return x, y, name
