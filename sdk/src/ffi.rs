//! The `extern "C"` glue the export macro instantiates for a plugin type. Every entry
//! point runs under `catch_unwind`: an error becomes `Status::Error`, a panic
//! `Status::Panic`, each with its message, and no panic crosses the boundary.

use crate::abi::*;
use crate::plugin::{ArrayKind, BatchInfo, DatasetView, Direction, EpochInfo, JobInfo, NamedArray, Plugin, PluginResult, ScoreBatch};
use crate::{Hook, Host, ABI_VERSION, MIN_HOST_ABI, SDK_VERSION, TORCH_BUILT_WITH};
use std::any::TypeId;
use std::collections::HashMap;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, OnceLock};
use tch::Tensor;
use torch_sys::C_tensor;

/// A plugin instance with its host handle.
struct Instance<P> {
    plugin: P,
    host: Host,
}

/// Wraps the descriptor so it can live in a static (its pointers are to statics).
pub struct DescriptorCell(pub PluginDescriptor);
// SAFETY: the descriptor only holds pointers to 'static data and functions, never
// written after it is built.
unsafe impl Sync for DescriptorCell {}
// SAFETY: as for Sync: nothing in it belongs to a thread.
unsafe impl Send for DescriptorCell {}

/// The descriptor for `P`, built once.
pub fn descriptor<P: Plugin>(cell: &'static OnceLock<DescriptorCell>, debug_build: bool) -> *const PluginDescriptor {
    let d = cell.get_or_init(|| {
        let declared = declared_scores::<P>();
        let mut hooks = P::hooks().iter().fold(0u32, |m, h| m | h.bit());
        // The outputs come with `on_train_batch_end`: subscribing to them subscribes to it.
        if hooks & Hook::TrainBatchOutputs.bit() != 0 {
            hooks |= Hook::OnTrainBatchEnd.bit();
        }
        DescriptorCell(PluginDescriptor {
            abi_version: ABI_VERSION,
            sdk_version: StrRef::new(SDK_VERSION),
            torch_version: StrRef::new(TORCH_BUILT_WITH),
            name: StrRef::new(P::name()),
            version: StrRef::new(P::version()),
            hooks,
            debug_build,
            create: create::<P>,
            destroy: destroy::<P>,
            on_job_start: on_job_start::<P>,
            on_dataset_ready: on_dataset_ready::<P>,
            on_train_batch_end: on_train_batch_end::<P>,
            on_train_epoch_end: on_train_epoch_end::<P>,
            save_state: save_state::<P>,
            load_state: load_state::<P>,
            score_batch: score_batch::<P>,
            on_scores: on_scores::<P>,
            on_job_end: on_job_end::<P>,
            size: std::mem::size_of::<PluginDescriptor>(),
            min_host_abi: MIN_HOST_ABI,
            flags: if P::keeps_no_state() { FLAG_KEEPS_NO_STATE } else { 0 },
            scores: declared.as_ptr(),
            scores_len: declared.len(),
        })
    });
    &d.0
}

/// The descriptor of `P` for a plugin run in this process (by a program embedding
/// memscope, or by [`crate::testing`]), built once per type for the life of the process,
/// as a library's is (plugins are never unloaded). Its `debug_build` is this build's.
pub fn descriptor_cell<P: Plugin>() -> &'static DescriptorCell {
    static CELLS: OnceLock<Mutex<HashMap<TypeId, &'static OnceLock<DescriptorCell>>>> = OnceLock::new();
    let cell = *CELLS
        .get_or_init(Default::default)
        .lock()
        .expect("descriptor cells")
        .entry(TypeId::of::<P>())
        .or_insert_with(|| Box::leak(Box::new(OnceLock::new())));
    descriptor::<P>(cell, cfg!(debug_assertions));
    cell.get().expect("`descriptor` fills the cell")
}

/// `P`'s declared scores for its descriptor, built once with it and never freed (the
/// descriptor is a static).
fn declared_scores<P: Plugin>() -> &'static [ScoreDeclC] {
    let declared: Vec<ScoreDeclC> = P::scores()
        .into_iter()
        .map(|s| ScoreDeclC { name: StrRef::new(Box::leak(s.name.into_boxed_str())), direction: s.direction.code() })
        .collect();
    Box::leak(declared.into_boxed_slice())
}

/// Makes an instance of `P` from a value the program already has (not from settings,
/// as `create` does), for a plugin run in the program's own process: the host calls its
/// hooks and `destroy` through `P`'s descriptor as for one it created. `host` must
/// outlive the instance, as for `create`.
///
/// # Safety
/// `host` must be a valid callback table that outlives the returned instance.
pub unsafe fn adopt<P: Plugin>(plugin: P, host: *const HostApiC) -> *mut c_void {
    // SAFETY: guaranteed by the caller.
    let host = unsafe { Host::from_raw(host) };
    Box::into_raw(Box::new(Instance { plugin, host })) as *mut c_void
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic with a non-text payload".into())
}

thread_local! {
    /// Where the last panic on this thread happened, recorded by our panic hook.
    static PANIC_LOCATION: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
    /// Whether this thread is inside a hook (under `guarded`).
    static IN_HOOK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs, once, a panic hook that records the location of a panic inside a hook
/// instead of printing it: the panic reaches the host as an error with its message and
/// location, printed once, by the host. Panics outside hooks go to the hook that was
/// there before. A plugin library has its own copy of std, so this is its own hook; a
/// plugin run in the host's process (`memscope::Job::plugin`) shares the host's, which
/// keeps printing everything else.
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_HOOK.with(|h| h.get()) {
                let location = info.location().map(|l| format!("{}:{}", l.file(), l.line()));
                PANIC_LOCATION.with(|p| *p.borrow_mut() = location);
            } else {
                previous(info)
            }
        }))
    });
}

/// Runs `f`, reporting errors and panics through `err`.
fn guarded(err: *mut ErrorSink, f: impl FnOnce() -> PluginResult) -> Status {
    quiet_panics();
    // A hook of an in-process plugin may run a nested job's hooks: restore, not clear.
    let outer = IN_HOOK.with(|h| h.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    IN_HOOK.with(|h| h.set(outer));
    let (status, message) = match result {
        Ok(Ok(())) => return Status::Ok,
        Ok(Err(e)) => (Status::Error, e.0),
        Err(panic) => {
            let at = PANIC_LOCATION.with(|p| p.borrow_mut().take()).map(|l| format!(" (at {l})")).unwrap_or_default();
            (Status::Panic, format!("{}{at}", panic_message(panic)))
        }
    };
    if !err.is_null() {
        // SAFETY: the host passes a valid sink for the duration of the call.
        unsafe { ((*err).write)((*err).ctx, StrRef::new(&message)) };
    }
    status
}

/// The instance behind a hook's `ptr`.
///
/// # Safety
/// `ptr` must come from `create::<P>` and not be destroyed yet, and no other call may
/// use it at the same time (the host calls each instance under a mutex).
unsafe fn instance<'a, P>(ptr: *mut c_void) -> &'a mut Instance<P> {
    // SAFETY: `ptr` came from `create::<P>` and the host serializes calls.
    unsafe { &mut *(ptr as *mut Instance<P>) }
}

/// # Safety
/// Called by the host only, as the ABI says: `ptr` from `create::<P>` (for `create`,
/// `host` alive as long as the instance), every other pointer valid for the call.
unsafe extern "C" fn create<P: Plugin>(config: StrRef, host: *const HostApiC, out: *mut *mut c_void, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        // SAFETY: the host passes valid arguments for the call; `host` outlives the instance.
        let (config, host) = unsafe { (config.as_str(), Host::from_raw(host)) };
        let plugin = P::create(config, &host)?;
        let boxed = Box::new(Instance { plugin, host });
        assert!(!out.is_null(), "the host passed a null out-parameter to create");
        // SAFETY: `out` is the host's non-null out-parameter, valid for one write.
        unsafe { *out = Box::into_raw(boxed) as *mut c_void };
        Ok(())
    })
}

/// The settings check of `P` ([`crate::abi::CHECK_SETTINGS_SYMBOL`]): runs
/// [`Plugin::check_settings`] and writes each problem to `problems`.
///
/// # Safety
/// Called by the host only: `config` valid for the call, `problems` and `err` null or
/// valid sinks for the call.
pub unsafe fn check_settings<P: Plugin>(config: StrRef, problems: *mut ProblemSink, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        // SAFETY: the host passes a valid string for the duration of the call.
        let config = unsafe { config.as_str() };
        for problem in P::check_settings(config) {
            if !problems.is_null() {
                // SAFETY: the host passes a valid sink for the duration of the call.
                unsafe { ((*problems).write)((*problems).ctx, StrRef::new(&problem.key), StrRef::new(&problem.message)) };
            }
        }
        Ok(())
    })
}

/// # Safety
/// Called by the host only, as the ABI says: `ptr` from `create::<P>` (for `create`,
/// `host` alive as long as the instance), every other pointer valid for the call.
unsafe extern "C" fn destroy<P: Plugin>(ptr: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `ptr` came from `create::<P>` and is destroyed once.
        drop(unsafe { Box::from_raw(ptr as *mut Instance<P>) });
    }));
}

/// # Safety
/// Called by the host only, as the ABI says: `ptr` from `create::<P>` (for `create`,
/// `host` alive as long as the instance), every other pointer valid for the call.
unsafe extern "C" fn on_job_start<P: Plugin>(ptr: *mut c_void, job: *const JobInfoC, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        // SAFETY: `ptr` from `create::<P>`, called under the host's mutex; `job` points
        // to the host's `JobInfoC` for this call.
        let (me, job) = unsafe { (instance::<P>(ptr), &*job) };
        // SAFETY: the host builds both strings with `StrRef::new`, alive for the call.
        let info = unsafe {
            JobInfo {
                run: job.run.as_str(),
                run_dir: job.run_dir.as_str(),
                samples: job.samples,
                classes: job.classes,
                epochs: job.epochs,
                seed: job.seed,
            }
        };
        me.plugin.on_job_start(&me.host, &info)
    })
}

/// # Safety
/// Called by the host only, as the ABI says: `ptr` from `create::<P>` (for `create`,
/// `host` alive as long as the instance), every other pointer valid for the call.
unsafe extern "C" fn on_dataset_ready<P: Plugin>(ptr: *mut c_void, data: *mut DatasetC, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        // SAFETY: `ptr` from `create::<P>`, called under the host's mutex; `data` is the
        // host's `DatasetC`, exclusively ours for the call.
        let (me, data) = unsafe { (instance::<P>(ptr), &mut *data) };
        let labels: &mut [i64] = if data.samples == 0 {
            &mut []
        } else {
            assert!(!data.labels.is_null(), "the host passed null labels for {} samples", data.samples);
            // SAFETY: non-null; the host lends its `samples` labels, mutably and only to
            // this call, from a live `Vec<i64>`.
            unsafe { std::slice::from_raw_parts_mut(data.labels, data.samples) }
        };
        let mut view = DatasetView { labels, classes: data.classes };
        me.plugin.on_dataset_ready(&me.host, &mut view)
    })
}

/// # Safety
/// Called by the host only, as the ABI says: `ptr` from `create::<P>` (for `create`,
/// `host` alive as long as the instance), every other pointer valid for the call.
unsafe extern "C" fn on_train_batch_end<P: Plugin>(ptr: *mut c_void, batch: *const BatchC, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        // SAFETY: `ptr` from `create::<P>`, called under the host's mutex; `batch` is
        // the host's `BatchC` for this call.
        let (me, b) = unsafe { (instance::<P>(ptr), &*batch) };
        // SAFETY: the host lends `len` indices, losses and labels and `logits_len`
        // logits from live vectors for the call.
        let (indices, losses, labels, logits) =
            unsafe { (lent(b.indices, b.len), lent(b.losses, b.len), lent(b.labels, b.len), lent(b.logits, b.logits_len)) };
        assert!(
            logits.is_empty() || logits.len() == b.len * b.classes,
            "the host lent {} logits for {} samples of {} classes",
            logits.len(),
            b.len,
            b.classes
        );
        let info = BatchInfo { epoch: b.epoch, step: b.step, indices, losses, labels, logits, classes: b.classes };
        me.plugin.on_train_batch_end(&me.host, &info)
    })
}

/// # Safety
/// Called by the host only, as the ABI says: `ptr` from `create::<P>` (for `create`,
/// `host` alive as long as the instance), every other pointer valid for the call.
unsafe extern "C" fn on_train_epoch_end<P: Plugin>(ptr: *mut c_void, epoch: *const EpochC, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        // SAFETY: `ptr` from `create::<P>`, called under the host's mutex; `epoch` is the
        // host's `EpochC` for this call.
        let (me, e) = unsafe { (instance::<P>(ptr), &*epoch) };
        me.plugin.on_train_epoch_end(&me.host, &EpochInfo { epoch: e.epoch, loss: e.loss, accuracy: e.accuracy })
    })
}

/// # Safety
/// Called by the host only, as the ABI says: `ptr` from `create::<P>` (for `create`,
/// `host` alive as long as the instance), every other pointer valid for the call.
unsafe extern "C" fn save_state<P: Plugin>(ptr: *mut c_void, out: *mut ByteSink, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        // SAFETY: `ptr` from `create::<P>`, called under the host's mutex.
        let me = unsafe { instance::<P>(ptr) };
        let state = me.plugin.save_state(&me.host)?;
        assert!(!out.is_null(), "the host passed a null state sink");
        // SAFETY: the host's sink is valid for the call and copies the bytes, which
        // live on this frame until it returns.
        unsafe { ((*out).write)((*out).ctx, state.as_ptr(), state.len()) };
        Ok(())
    })
}

/// # Safety
/// Called by the host only, as the ABI says: `ptr` from `create::<P>` (for `create`,
/// `host` alive as long as the instance), every other pointer valid for the call.
unsafe extern "C" fn load_state<P: Plugin>(ptr: *mut c_void, state: *const BytesC, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        // SAFETY: `ptr` from `create::<P>`, called under the host's mutex; `state` is the
        // host's `BytesC` for this call, lending `len` bytes of a live vector.
        let (me, bytes) = unsafe { (instance::<P>(ptr), lent((*state).data, (*state).len)) };
        me.plugin.load_state(&me.host, bytes)
    })
}

/// # Safety
/// Called by the host only, as the ABI says: `ptr` from `create::<P>` (for `create`,
/// `host` alive as long as the instance), every other pointer valid for the call.
unsafe extern "C" fn score_batch<P: Plugin>(
    ptr: *mut c_void,
    batch: *const ScoreBatchC,
    images: *mut C_tensor,
    labels: *mut C_tensor,
    out: *mut *mut C_tensor,
    err: *mut ErrorSink,
) -> Status {
    guarded(err, || {
        // SAFETY: `ptr` from `create::<P>`, called under the host's mutex; `batch` is the
        // host's `ScoreBatchC` for this call.
        let (me, batch) = unsafe { (instance::<P>(ptr), &*batch) };
        let batch = ScoreBatch { epoch: batch.epoch, offset: batch.offset };
        assert!(!images.is_null() && !labels.is_null() && !out.is_null(), "the host passed a null tensor handle");
        // Borrowed handles: take shallow copies with handles of our own.
        // SAFETY: non-null handles of tensors the host holds alive for the call.
        let (images, labels) = unsafe { (Tensor::clone_from_ptr(images), Tensor::clone_from_ptr(labels)) };
        let mut scores = me.plugin.score_batch(&me.host, &batch, &images, &labels)?;
        // Hand the result over for good: the host takes ownership of the handle.
        // SAFETY: `out` is the host's non-null out-parameter, valid for one write.
        unsafe { *out = scores.as_mut_ptr() };
        std::mem::forget(scores);
        Ok(())
    })
}

/// A slice the host lends for one call: empty when `len` is 0 (the pointer may then be
/// null or dangling).
///
/// # Safety
/// When `len > 0`, `ptr` must point to `len` initialized values alive for `'a`.
unsafe fn lent<'a, T>(ptr: *const T, len: usize) -> &'a [T] {
    if len == 0 {
        return &[];
    }
    assert!(!ptr.is_null(), "the host lent a null pointer for {len} values");
    // SAFETY: non-null; the caller guarantees `len` values alive for 'a.
    unsafe { std::slice::from_raw_parts(ptr, len) }
}

/// The host's array as the plugin sees it.
///
/// # Safety
/// `a` must be an array the host built for the current call: its name a `StrRef::new`
/// and its values a live slice, both alive for `'a`.
unsafe fn array<'a>(a: &'a ArrayC, direction: Direction) -> NamedArray<'a> {
    NamedArray {
        direction,
        // SAFETY: guaranteed by the caller.
        name: unsafe { a.name.as_str() },
        kind: ArrayKind::from_code(a.kind).unwrap_or(ArrayKind::Score),
        // SAFETY: guaranteed by the caller.
        values: unsafe { lent(a.values, a.len) },
    }
}

/// # Safety
/// Called by the host only, as the ABI says: `ptr` from `create::<P>` (for `create`,
/// `host` alive as long as the instance), every other pointer valid for the call.
unsafe extern "C" fn on_scores<P: Plugin>(ptr: *mut c_void, scores: *const ScoresC, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        // SAFETY: `ptr` from `create::<P>`, called under the host's mutex; `scores` is the
        // host's `ScoresC` for this call.
        let (me, s) = unsafe { (instance::<P>(ptr), &*scores) };
        // The direction is there: a host older than ABI 5 does not load this plugin.
        let direction = Direction::from_code(s.direction);
        // SAFETY: the host built the array for this call.
        me.plugin.on_scores(&me.host, s.epoch, &unsafe { array(&s.array, direction) })
    })
}

/// # Safety
/// Called by the host only, as the ABI says: `ptr` from `create::<P>` (for `create`,
/// `host` alive as long as the instance), every other pointer valid for the call.
unsafe extern "C" fn on_job_end<P: Plugin>(ptr: *mut c_void, end: *const JobEndC, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        // SAFETY: `ptr` from `create::<P>`, called under the host's mutex; `end` is the
        // host's `JobEndC` for this call.
        let (me, e) = unsafe { (instance::<P>(ptr), &*end) };
        // SAFETY: the host lends `len` arrays, and as many directions (ABI 5, which every
        // host that loads this plugin has; none when it passes null), from live vectors
        // for the call.
        let (raw, directions) = unsafe { (lent(e.arrays, e.len), lent(e.directions, if e.directions.is_null() { 0 } else { e.len })) };
        let direction = |i: usize| directions.get(i).map_or(Direction::HigherIsMemorized, |&d| Direction::from_code(d));
        // SAFETY: each array was built by the host for this call.
        let arrays: Vec<NamedArray<'_>> = raw.iter().enumerate().map(|(i, a)| unsafe { array(a, direction(i)) }).collect();
        me.plugin.on_job_end(&me.host, e.ok, &arrays)
    })
}

impl Hook {
    /// This hook's bit in [`PluginDescriptor::hooks`]: fixed for good (a hook added
    /// later takes the next free bit, which an older host ignores).
    pub fn bit(self) -> u32 {
        1 << match self {
            Hook::OnJobStart => 0,
            Hook::OnDatasetReady => 1,
            Hook::OnTrainBatchEnd => 2,
            Hook::TrainBatchOutputs => 3,
            Hook::OnTrainEpochEnd => 4,
            Hook::SaveState => 5,
            Hook::LoadState => 6,
            Hook::ScoreBatch => 7,
            Hook::OnScores => 8,
            Hook::OnJobEnd => 9,
        }
    }
}
