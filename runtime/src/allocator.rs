//! Settings of the C allocator that libtorch allocates every tensor from.
//!
//! libtorch takes each activation and gradient buffer from `malloc` and frees it at the
//! end of the pass, so a training step or a scoring pass allocates the same few large
//! blocks again and again. glibc's defaults serve blocks from 128 KiB (rising to
//! 32 MiB) with fresh `mmap`s, give non-main threads (the trainer's and the scorer's)
//! their own arenas, and trim freed memory back to the system eagerly: each pass then
//! page-faults its buffers in again, and the kernel zeroes every page. With one arena,
//! no `mmap` for large blocks and a high trim threshold, freed blocks are reused.
//! Measured on 2 cores (digits / MNIST[:2000], `cnn`): page faults of a scoring job
//! 300k to 80k / 2.4-4.4M to 0.23M; curvature scoring 1,480-1,555 to 1,760-1,830
//! samples/s on digits and 122-139 to 165-167 on MNIST; training on MNIST 807-819 to
//! 870-962 samples/s. jemalloc with its defaults was slower than glibc's defaults
//! (it returns pages even more eagerly: 10M faults on MNIST).
//!
//! `MEMSCOPE_DEFAULT_MALLOC=1` in the environment keeps glibc's defaults (to compare,
//! or where returning freed memory to the system matters more than speed). Measured
//! with it, MNIST[:2000] training ran 754-871 samples/s against 1,013-1,024 without,
//! while the bare tch loop (main thread, one arena either way) ran about 1,000-1,070.

/// Freed memory above this at the top of the heap goes back to the system.
const TRIM_THRESHOLD: i32 = 1 << 30;

/// Applies the settings above. Call it first thing in `main`, before any thread
/// starts (threads pick their arena when they first allocate).
pub fn tune() {
    if std::env::var_os("MEMSCOPE_DEFAULT_MALLOC").is_some() {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any other
    // thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}
