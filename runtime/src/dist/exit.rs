//! How a process whose group broke ends.
//!
//! After a failed collective, the group's NCCL communicators may still have a kernel
//! spinning on the GPU for a peer that will never answer, and PyTorch's NCCL watchdog
//! thread still runs. The exit handlers and static destructors that `exit` runs (the
//! CUDA caching allocator's frees, which synchronize with the device; libtorch's
//! globals, with the watchdog still using them) could then wait on that kernel until
//! the watchdog aborts the process, a minute later and without memscope's error. So
//! such a process ends at once, as the watchdog itself would: its error is written,
//! and everything the job wrote (checkpoints renamed into place, the run's files) is
//! already with the kernel.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once any collective of this process's group has failed.
static COLLECTIVE_FAILED: AtomicBool = AtomicBool::new(false);

/// Notes that a collective of this process's group failed.
pub(super) fn note_collective_failed() {
    COLLECTIVE_FAILED.store(true, Ordering::SeqCst);
}

/// Whether a collective of this process's group has failed (a peer died, hung past
/// the timeout, or was found lost).
pub fn collective_failed() -> bool {
    COLLECTIVE_FAILED.load(Ordering::SeqCst)
}

/// Ends the process with `code`: at once, without exit handlers, when a collective of
/// its group has failed (see the module's doc); else as `std::process::exit`. Standard
/// output is flushed first; standard error is not buffered.
pub fn exit(code: u8) -> ! {
    if collective_failed() {
        end_now(code)
    }
    std::process::exit(i32::from(code))
}

/// Flushes standard output and ends the process at once with `code`: no unwinding, no
/// exit handlers, no destructors of statics.
pub(super) fn end_now(code: u8) -> ! {
    let _ = std::io::stdout().flush();
    // SAFETY: `_exit` ends the process at once; nothing runs after it.
    unsafe { libc::_exit(i32::from(code)) }
}
