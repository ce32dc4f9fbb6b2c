#!/usr/bin/env bash
# Own-images benchmark on MNIST (fetched into data/ by scripts/fetch-data):
#  1. writes the 60,000 training images as PNG files, data/mnist-png/<N>/<label>/<i>.png
#     (N = 10000, 30000, 60000);
#  2. decoding: loads the 60,000-image folder with an empty cache (images/s), then again
#     from the cache (the cached start);
#  3. training from the folder vs from the IDX files, the same job otherwise
#     (`cnn`, EPOCHS epochs, the `loss` score only, the first TRAIN_N images: the
#     folder of that size, IDX with `limit`), alternating, ROUNDS pairs; each run's
#     samples/s (summary.json's train_samples_per_second);
#  4. peak RSS (/usr/bin/time -v) and peak anonymous RSS (RssAnon, polled) of a 1-epoch
#     job (`mlp`: the network is not what is measured) on the cached folders of 10k,
#     30k and 60k images, and on IDX 60k.
# Writes bench/decode-results.txt. THREADS (default 2) sets the jobs' libtorch threads,
# EPOCHS (default 1) and ROUNDS (default 3) the training comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
EPOCHS=${EPOCHS:-1}
ROUNDS=${ROUNDS:-3}
TRAIN_N=${TRAIN_N:-10000}
ROOT=$PWD
OUT=bench/decode-results.txt
MEMSCOPE=target/release/memscope
[[ -f data/mnist/train-images-idx3-ubyte ]] || scripts/fetch-data
cargo build --release -p memscope-runtime --bin memscope --example image_folder
TOOL=target/release/examples/image_folder
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
CACHE=data/mnist-png-cache

for n in 10000 30000 60000; do
    if [[ ! -d data/mnist-png/$n ]]; then
        $TOOL write data/mnist/train-images-idx3-ubyte data/mnist/train-labels-idx1-ubyte data/mnist-png/$n $n
    fi
done

job() { # NAME DATA_LINES EPOCHS [ARCH]
    cat > "$WORK/$1.toml" <<TOML
name = "$1"
seed = 0
threads = $THREADS
[data]
$2
[model]
arch = "${4:-cnn}"
[train]
epochs = $3
batch_size = 128
lr = 0.05
[score]
builtin = ["loss"]
[checkpoint]
every = 0
[report]
enabled = false
TOML
    echo "$WORK/$1.toml"
}
folder() { echo "format = \"folder\"
path = \"$ROOT/data/mnist-png/$1\"
image_size = [1, 28, 28]
cache_dir = \"$ROOT/$CACHE\""; }
IDX="format = \"idx\"
path = \"$ROOT/data/mnist/train-images-idx3-ubyte\"
labels = \"$ROOT/data/mnist/train-labels-idx1-ubyte\""

{
echo "# bench/decode.sh, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, threads=$THREADS"
rm -rf "$CACHE"
echo "## decoding 60,000 PNG files (28x28 grayscale)"
echo "first run (empty cache): $($TOOL load "$(job load "$(folder 60000)" 1)")"
echo "cached start:            $($TOOL load "$WORK/load.toml")"
echo "cached start:            $($TOOL load "$WORK/load.toml")"

echo "## training, cnn, $EPOCHS epoch(s), $TRAIN_N images: folder vs IDX (samples/s), $ROUNDS alternating pairs"
$TOOL load "$(job train-folder "$(folder "$TRAIN_N")" "$EPOCHS")" > /dev/null   # cached before timing
job train-idx "$IDX
limit = $TRAIN_N" "$EPOCHS" >/dev/null
for round in $(seq "$ROUNDS"); do
    for kind in folder idx; do
        $MEMSCOPE run "$WORK/train-$kind.toml" --out "$WORK/runs" --force --quiet --no-report >/dev/null
        python3 -c "import json,sys; print('$kind', json.load(open('$WORK/runs/train-$kind/summary.json'))['timings']['train_samples_per_second'])"
    done
done

echo "## peak memory of a 1-epoch job (cached folders; IDX for comparison)"
rss() { # NAME CONFIG
    /usr/bin/time -v $MEMSCOPE run "$2" --out "$WORK/runs" --force --quiet --no-report > /dev/null 2> "$WORK/time.txt" &
    local timer=$! anon=0 pid=""
    while kill -0 $timer 2>/dev/null; do
        pid=${pid:-$(pgrep -P $timer || true)}
        if [[ -n $pid && -r /proc/$pid/status ]]; then
            local now
            now=$(awk '/RssAnon/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
            (( ${now:-0} > anon )) && anon=$now
        fi
        sleep 0.1
    done
    wait $timer
    printf '%-12s peak RSS %7d kB, peak anonymous RSS %7d kB\n' "$1" "$(awk '/Maximum resident/ {print $6}' "$WORK/time.txt")" "$anon"
}
for n in 10000 30000 60000; do
    $TOOL load "$(job rss-$n "$(folder $n)" 1 mlp)" > /dev/null   # make sure it is cached
    rss "folder $n" "$WORK/rss-$n.toml"
done
rss "idx 60000" "$(job rss-idx "$IDX" 1 mlp)"
} | tee "$OUT"
