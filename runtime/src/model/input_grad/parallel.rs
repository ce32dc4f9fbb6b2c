//! Splitting a kernel's rows across the job's threads.
//!
//! The kernels run between libtorch operations, whose OpenMP worker threads spin
//! for a while after each operation, waiting for the next. Threads of our own would
//! compete with them for the same cores (on two cores, a kernel ran about half as
//! fast). So the kernels borrow that same OpenMP team, through libgomp's entry point
//! for a parallel region (`GOMP_parallel`, found at run time in the libgomp that
//! libtorch loaded). Without it (another OpenMP runtime), scoped threads do.

use std::ffi::{c_int, c_uint, c_void};
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, OnceLock};

/// Rows per thread, and the row ranges of about equal size, one per thread (fewer
/// for few rows).
pub fn row_ranges(rows: usize, threads: usize) -> (usize, Vec<Range<usize>>) {
    let per = rows.div_ceil(threads.clamp(1, rows.max(1))).max(1);
    (per, (0..rows).step_by(per).map(|s| s..(s + per).min(rows)).collect())
}

/// Runs `work` once per job, the jobs spread over the OpenMP team (or scoped
/// threads). Each job carries the output chunks of its rows, so threads never
/// share what they write. A panic in `work` is raised again here.
pub fn in_parallel<J: Send>(jobs: Vec<J>, work: impl Fn(J) + Sync) {
    if jobs.len() <= 1 {
        jobs.into_iter().for_each(work);
        return;
    }
    match gomp() {
        Some(gomp) => on_openmp_team(gomp, jobs, &work),
        None => on_scoped_threads(jobs, &work),
    }
}

fn on_scoped_threads<J: Send>(jobs: Vec<J>, work: &(impl Fn(J) + Sync)) {
    std::thread::scope(|s| {
        let mut jobs = jobs.into_iter();
        let first = jobs.next();
        for job in jobs {
            s.spawn(move || work(job));
        }
        if let Some(job) = first {
            work(job);
        }
    });
}

type ParallelFn = unsafe extern "C" fn(body: unsafe extern "C" fn(*mut c_void), data: *mut c_void, threads: c_uint, flags: c_uint);
type ThreadNumFn = unsafe extern "C" fn() -> c_int;

#[derive(Clone, Copy)]
struct Gomp {
    parallel: ParallelFn,
    thread_num: ThreadNumFn,
}

/// libgomp's entry points, when the process has loaded libgomp (libtorch's CPU
/// build does).
fn gomp() -> Option<Gomp> {
    static GOMP: OnceLock<Option<Gomp>> = OnceLock::new();
    *GOMP.get_or_init(|| {
        // SAFETY: dlsym with RTLD_DEFAULT only looks symbols up; the names are
        // NUL-terminated and the types are libgomp's (GOMP 4.0 and OpenMP 1.0 ABIs).
        unsafe {
            let parallel = libc::dlsym(libc::RTLD_DEFAULT, c"GOMP_parallel".as_ptr());
            let thread_num = libc::dlsym(libc::RTLD_DEFAULT, c"omp_get_thread_num".as_ptr());
            (!parallel.is_null() && !thread_num.is_null()).then(|| Gomp {
                parallel: std::mem::transmute::<*mut c_void, ParallelFn>(parallel),
                thread_num: std::mem::transmute::<*mut c_void, ThreadNumFn>(thread_num),
            })
        }
    })
}

/// What each thread of the region reads: the jobs (thread t takes job t) and the
/// work; a panic's payload is kept to raise again on the calling thread.
struct Region<'a, J> {
    jobs: Vec<Mutex<Option<J>>>,
    work: &'a (dyn Fn(J) + Sync),
    thread_num: ThreadNumFn,
    panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
}

unsafe extern "C" fn region_body<J>(data: *mut c_void) {
    // SAFETY: `data` is the `Region` that `on_openmp_team` keeps alive until
    // GOMP_parallel returns, after every thread of the team has left this body.
    let region = unsafe { &*(data as *const Region<'_, J>) };
    // SAFETY: `omp_get_thread_num` from libgomp: no arguments, no preconditions.
    let t = unsafe { (region.thread_num)() }.max(0) as usize;
    let job = region.jobs.get(t).and_then(|slot| slot.lock().ok()?.take());
    if let Some(job) = job {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| (region.work)(job))) {
            if let Ok(mut slot) = region.panic.lock() {
                slot.get_or_insert(payload);
            }
        }
    }
}

fn on_openmp_team<J: Send>(gomp: Gomp, jobs: Vec<J>, work: &(impl Fn(J) + Sync)) {
    let team = jobs.len();
    let region = Region {
        jobs: jobs.into_iter().map(|j| Mutex::new(Some(j))).collect(),
        work,
        thread_num: gomp.thread_num,
        panic: Mutex::new(None),
    };
    // SAFETY: the body only reads `region`, which outlives the call; GOMP_parallel
    // returns after the whole team has run it.
    unsafe { (gomp.parallel)(region_body::<J>, &region as *const Region<'_, J> as *mut c_void, team as c_uint, 0) };
    // A team smaller than asked for (nested regions, a thread limit) leaves jobs:
    // run them here.
    for slot in &region.jobs {
        if let Some(job) = slot.lock().ok().and_then(|mut s| s.take()) {
            work(job);
        }
    }
    if let Some(payload) = region.panic.into_inner().ok().flatten() {
        std::panic::resume_unwind(payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_runs_once_on_the_openmp_team() {
        let _ = tch::get_num_threads(); // libtorch (and with it libgomp) is loaded
        assert!(gomp().is_some(), "libgomp's GOMP_parallel is found in the process");
        for threads in [1, 2, 3, 8] {
            let (per, ranges) = row_ranges(10, threads);
            let mut out = vec![0u32; 10];
            let jobs: Vec<_> = ranges.into_iter().zip(out.chunks_mut(per)).collect();
            in_parallel(jobs, |(range, chunk)| {
                for (v, row) in chunk.iter_mut().zip(range) {
                    *v += row as u32 + 1;
                }
            });
            assert_eq!(out, (1..=10).collect::<Vec<u32>>(), "{threads} threads");
        }
    }

    #[test]
    fn a_panicking_job_panics_the_caller() {
        let jobs: Vec<usize> = (0..3).collect();
        let result = catch_unwind(|| in_parallel(jobs, |j| assert!(j != 1, "job 1 fails")));
        assert!(result.is_err());
    }
}
