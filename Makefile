# memscope: `make run` and `make test` set everything up on a fresh machine.
#
# libtorch comes from the PyPI wheel torch==$(TORCH_VERSION) in a project-local venv
# (tch 0.26 checks that exact version). To use an existing libtorch instead, run with
# `make LIBTORCH=/path/to/libtorch ...`: the venv is then used only for benchmarks.

TORCH_VERSION := 2.13.0
VENV          := .venv
# Debian packages unpacked without root (scripts/debian-deps): headers the build looks
# for in $(DEPS)/usr/include, programs the tests find on PATH.
DEPS          := .deps
PYTHON        ?= python3
STAMP         := $(VENV)/.memscope-torch-$(TORCH_VERSION)
CARGO_FLAGS   := --release --workspace
BIN           := target/release/memscope

export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(DEPS))/usr/bin:$(VIRTUAL_ENV)/bin:$(PATH)
ifeq ($(LIBTORCH),)
export LIBTORCH_USE_PYTORCH := 1
else
export LIBTORCH
endif

.PHONY: run test test-portable test-deps c10d-deps setup build lint fuzz bench bench-deps bench-train bench-busy bench-score bench-torchscript bench-duplicates bench-review bench-decode bench-suite bench-dist bench-gpu gpu-bundle reproduce reproduce-deps fetch-data clean-runs

run: build
	$(BIN) run configs/digits.toml --force

# End-to-end tests run one at a time: each starts memscope processes that use every
# core, and oversubscribed OpenMP threads slow everything down far more than it gains.
# Their thread count is fixed (a job with `threads = 0` otherwise follows the cores
# other processes leave free, and tests compare runs byte for byte); test_threads
# removes it to test that.
test test-portable: export OMP_NUM_THREADS := 2
test: build test-deps
	cargo test $(CARGO_FLAGS) -- --test-threads=1
	$(MAKE) --no-print-directory test-portable

# Users' CPUs differ from the one that runs the tests: without AVX2 (or without
# AVX-512), libtorch's kernels sum in another order, and whatever compares numbers after
# training must hold there too. These settings make any x86-64 machine compute as a CPU
# with AVX and FMA but no AVX2 does: ATen's baseline kernels, oneDNN and MKL held to
# AVX, and memscope's own loops on their portable build (MEMSCOPE_CPU_ISA). The tests
# that compare trainings or scores run again under them, and the distributed ones also
# under AVX2 without AVX-512 (where the old trajectory tests failed on this machine).
PORTABLE_CPU  := ATEN_CPU_CAPABILITY=default DNNL_MAX_CPU_ISA=AVX MKL_ENABLE_INSTRUCTIONS=AVX MEMSCOPE_CPU_ISA=portable
NUMERIC_TESTS := test_distributed test_resume test_torchscript test_library test_images test_run
test-portable: build
	env $(PORTABLE_CPU) cargo test --release -p memscope-runtime --lib -- --test-threads=1
	env $(PORTABLE_CPU) cargo test --release -p memscope-tests --test e2e -- --test-threads=1 $(NUMERIC_TESTS)
	env ATEN_CPU_CAPABILITY=avx2 DNNL_MAX_CPU_ISA=AVX2 cargo test --release -p memscope-tests --test e2e -- --test-threads=1 test_distributed

# Every fuzz target (tests/fuzz: config and job parsing, dataset readers, reference
# arrays, checkpoints, submitted bodies) for FUZZ_SECONDS each, printing the inputs
# tried; `make test` runs a short round and the recorded regressions.
FUZZ_SECONDS ?= 60
fuzz: build
	MEMSCOPE_FUZZ_SECONDS=$(FUZZ_SECONDS) cargo test $(CARGO_FLAGS) --test fuzz -- --test-threads=1 --nocapture

# A real Prometheus server for the dashboard test, and a real browser for the review
# page's test (Debian packages): apt-get as root (CI), else unpacked into $(DEPS)
# without root (see scripts/debian-deps).
test-deps:
	@command -v prometheus >/dev/null || scripts/debian-deps prometheus
	@command -v chromium >/dev/null || scripts/debian-deps chromium

setup: $(STAMP) c10d-deps

# Headers that c10d (scale-out, runtime/torch-ext/csrc/c10d.cpp) is compiled against
# and libtorch does not ship: Gloo's from Debian (libtorch has Gloo built in, so only
# the headers; apt-get as root, else unpacked into $(DEPS) by scripts/debian-deps), and,
# when torch is a CUDA wheel, the CUDA runtime headers its NCCL process group needs
# (header-only wheels matching torch's CUDA 13.0).
CUDA_HEADERS := nvidia-cuda-crt==13.0.88 nvidia-cuda-cccl==13.0.85
c10d-deps: $(STAMP)
	@test -f /usr/include/gloo/config.h -o -f /usr/local/include/gloo/config.h -o -f $(DEPS)/usr/include/gloo/config.h || scripts/debian-deps libgloo-dev
ifeq ($(LIBTORCH),)
	@site=$$($(VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	test ! -f $$site/torch/lib/libtorch_cuda.so -o -f $$site/nvidia/cu13/include/cccl/nv/target -a -f $$site/nvidia/cu13/include/crt/host_config.h || \
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(CUDA_HEADERS)
endif

# The venv holds torch (its libtorch is what we link against) and numpy for the
# PyTorch reference benchmarks. The stamp makes this a one-time step.
$(STAMP):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check torch==$(TORCH_VERSION) numpy
	touch $@

build: setup
	cargo build $(CARGO_FLAGS)

lint: setup
	cargo clippy $(CARGO_FLAGS) --all-targets -- -D warnings

# Every benchmark side by side with PyTorch eager (training, runtime overhead, curvature
# scoring, end to end, memory) on digits and, when fetched, MNIST: prints the table and
# writes bench/results.json and BENCHMARKS.md. Run on an idle machine.
bench: build bench-deps
	cargo build --release --example bare_train
	bench/torchscript.sh
	$(VENV)/bin/python bench/bench.py --markdown BENCHMARKS.md

# The reference scripts read memscope's safetensors checkpoints.
bench-deps: setup
	@$(VENV)/bin/python -c 'import safetensors' 2>/dev/null || $(VENV)/bin/pip install --quiet --disable-pip-version-check safetensors

# Training throughput of the reference cnn on digits: memscope vs PyTorch eager, same
# machine, same thread count, one after the other.
bench-train: build
	bench/train.sh

# Training throughput beside 0, 1 and 2 busy processes: memscope vs PyTorch eager,
# interleaved (BENCHMARKS.md, "Beside busy cores").
bench-busy: build
	bench/busy.sh

# Curvature scoring throughput on digits: memscope vs the published PyTorch procedure
# and the best eager variant, with the rank agreement of their scores.
bench-score: build
	bench/score.sh

# Curvature scoring of a TorchScript ResNet-18 (exported by the venv's torch) vs the
# published PyTorch loop on the same checkpoint, and the built-in resnet18 on the same
# data; writes bench/results-torchscript.{json,md} (the .md becomes part of BENCHMARKS.md).
bench-torchscript: build
	bench/torchscript.sh

# Duplicates finder (the report's search for copies with conflicting labels) on the
# 60,000 MNIST training images; fetches MNIST first when it is missing.
bench-duplicates: setup
	bench/duplicates.sh

# The review page with 60,000 samples (a run made without training): the time to open
# it and of each API request; then under the daemon, through its review engine (the
# first request, which starts it, and the later ones beside memscope review's).
bench-review: build
	bench/review.sh
	bench/review_daemon.sh

# Own images (image folder of the 60,000 MNIST training images as PNG files): decoding
# speed first and cached, training from the folder vs IDX, peak RSS for N = 10k..60k.
bench-decode: build
	bench/decode.sh

# Every memorization score of the suite in one MNIST run (10,000 images, 10 % noise):
# the ranking against the noise and the seconds each scorer adds, into BENCHMARKS.md.
bench-suite: build
	@test -f data/mnist/train-images-idx3-ubyte || scripts/fetch-data
	$(VENV)/bin/python bench/suite.py

# Scale-out on this machine: 1 process x 2 threads against 2 ranks x 1 thread (Gloo),
# then a group of 2 scoring inline against scoring on threads of their own.
bench-dist: build
	bench/dist.sh

# The CUDA checks (BENCHMARKS.md "CUDA on an H200"), on a machine with an NVIDIA GPU.
bench-gpu: build
	bench/gpu.sh

# The binaries for a GPU machine whose image has torch $(GPU_TORCH_VERSION) (CUDA) but no
# Rust and no network (scripts/gpu-bundle): built against that release's libtorch
# (fetched into GPU_CACHE, outside the checkout, when missing), stripped, into $(GPU_DIR)
# with a launcher that runs them on the machine's own libtorch; prints how to run
# bench/gpu.sh there. Not part of `make test`.
GPU_TORCH_VERSION ?= 2.11.0
GPU_CACHE         ?= $(HOME)/.cache/memscope/torch-$(GPU_TORCH_VERSION)
GPU_DIR           ?= .gpu
gpu-bundle: c10d-deps
	GPU_TORCH_VERSION=$(GPU_TORCH_VERSION) GPU_CACHE=$(GPU_CACHE) GPU_DIR=$(GPU_DIR) VENV=$(VENV) scripts/gpu-bundle

# The reproduction table (REPRODUCTION.md): memscope's scores against known label noise
# on MNIST and Fashion-MNIST with the default recipe, beside cleanlab's cross-validated
# label quality; about 65 minutes on an idle 2-core machine (a cell: 5-7 min of
# memscope, 3-4 min of cleanlab). Finished cells are kept: a rerun continues. Fetches the data first when it is missing.
reproduce: build reproduce-deps
	@test -f data/mnist/train-images-idx3-ubyte -a -f data/fashion-mnist/train-images-idx3-ubyte.gz || scripts/fetch-data
	$(VENV)/bin/python bench/science/reproduce.py

reproduce-deps: setup
	@$(VENV)/bin/python -c 'import cleanlab, sklearn' 2>/dev/null || $(VENV)/bin/pip install --quiet --disable-pip-version-check cleanlab scikit-learn

fetch-data:
	scripts/fetch-data

clean-runs:
	rm -rf runs
