#!/usr/bin/env bash
# Duplicates finder timing on MNIST's 60,000 training images (28x28), as `memscope
# report` runs it: exact copies by hashing, a PCA projection to 16 dimensions, a k-d
# tree radius search, candidates verified with the true distance. A second pass plants
# 100 exact and 100 slightly noisy copies under other labels and fails unless every
# one is found.
#
# MNIST is fetched into data/ by scripts/fetch-data when missing (npm); if that fails,
# the benchmark times 60,000 synthetic 28x28 images instead and says so.
#
#   bench/duplicates.sh                 # threshold 0.03 (the report's default), 2 threads
#   DISTANCE=0.05 THREADS=1 bench/duplicates.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DISTANCE=${DISTANCE:-0.03}
THREADS=${THREADS:-2}

if [[ ! -f data/mnist/train-images-idx3-ubyte ]]; then
    scripts/fetch-data || echo "bench/duplicates.sh: fetching MNIST failed; the benchmark falls back to synthetic images" >&2
fi
cargo build --release --example bench_duplicates
"${CARGO_TARGET_DIR:-target}/release/examples/bench_duplicates" "$DISTANCE" "$THREADS"
