//! The `extern "C"` glue the export macro instantiates for a plugin type. Every entry
//! point runs under `catch_unwind`: an error becomes `Status::Error`, a panic
//! `Status::Panic`, each with its message, and no panic crosses the boundary.

use crate::abi::*;
use crate::plugin::{ArrayKind, BatchInfo, DatasetView, EpochInfo, JobInfo, NamedArray, Plugin, PluginResult, ScoreBatch};
use crate::{Hook, Host, ABI_VERSION, SDK_VERSION, TORCH_VERSION};
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use tch::Tensor;
use torch_sys::C_tensor;

/// A plugin instance with its host handle.
struct Instance<P> {
    plugin: P,
    host: Host,
}

/// Wraps the descriptor so it can live in a static (its pointers are to statics).
pub struct DescriptorCell(pub PluginDescriptor);
// SAFETY: the descriptor only holds pointers to 'static data and functions.
unsafe impl Sync for DescriptorCell {}
unsafe impl Send for DescriptorCell {}

/// The descriptor for `P`, built once.
pub fn descriptor<P: Plugin>(cell: &'static OnceLock<DescriptorCell>) -> *const PluginDescriptor {
    let d = cell.get_or_init(|| {
        let hooks = P::hooks().iter().fold(0u32, |m, h| m | h.bit());
        DescriptorCell(PluginDescriptor {
            abi_version: ABI_VERSION,
            sdk_version: StrRef::new(SDK_VERSION),
            torch_version: StrRef::new(TORCH_VERSION),
            name: StrRef::new(P::name()),
            version: StrRef::new(P::version()),
            hooks,
            create: create::<P>,
            destroy: destroy::<P>,
            on_job_start: on_job_start::<P>,
            on_dataset_ready: on_dataset_ready::<P>,
            on_train_batch_end: on_train_batch_end::<P>,
            on_train_epoch_end: on_train_epoch_end::<P>,
            score_batch: score_batch::<P>,
            on_scores: on_scores::<P>,
            on_job_end: on_job_end::<P>,
        })
    });
    &d.0
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
}

/// Replaces this library's panic hook (the plugin has its own copy of std) with one
/// that records the location instead of printing: the panic reaches the host as an
/// error with its message and location, printed once, by the host.
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let location = info.location().map(|l| format!("{}:{}", l.file(), l.line()));
            PANIC_LOCATION.with(|p| *p.borrow_mut() = location);
        }))
    });
}

/// Runs `f`, reporting errors and panics through `err`.
fn guarded(err: *mut ErrorSink, f: impl FnOnce() -> PluginResult) -> Status {
    quiet_panics();
    let (status, message) = match catch_unwind(AssertUnwindSafe(f)) {
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

unsafe fn instance<'a, P>(ptr: *mut c_void) -> &'a mut Instance<P> {
    // SAFETY: `ptr` came from `create::<P>` and the host serializes calls.
    unsafe { &mut *(ptr as *mut Instance<P>) }
}

unsafe extern "C" fn create<P: Plugin>(config: StrRef, host: *const HostApiC, out: *mut *mut c_void, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        // SAFETY: the host passes valid arguments for the call; `host` outlives the instance.
        let (config, host) = unsafe { (config.as_str(), Host::from_raw(host)) };
        let plugin = P::create(config, &host)?;
        let boxed = Box::new(Instance { plugin, host });
        unsafe { *out = Box::into_raw(boxed) as *mut c_void };
        Ok(())
    })
}

unsafe extern "C" fn destroy<P: Plugin>(ptr: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `ptr` came from `create::<P>` and is destroyed once.
        drop(unsafe { Box::from_raw(ptr as *mut Instance<P>) });
    }));
}

unsafe extern "C" fn on_job_start<P: Plugin>(ptr: *mut c_void, job: *const JobInfoC, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        let (me, job) = unsafe { (instance::<P>(ptr), &*job) };
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

unsafe extern "C" fn on_dataset_ready<P: Plugin>(ptr: *mut c_void, data: *mut DatasetC, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        let (me, data) = unsafe { (instance::<P>(ptr), &mut *data) };
        let labels = unsafe { std::slice::from_raw_parts_mut(data.labels, data.samples) };
        let mut view = DatasetView { labels, classes: data.classes };
        me.plugin.on_dataset_ready(&me.host, &mut view)
    })
}

unsafe extern "C" fn on_train_batch_end<P: Plugin>(ptr: *mut c_void, batch: *const BatchC, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        let (me, b) = unsafe { (instance::<P>(ptr), &*batch) };
        let info = unsafe {
            BatchInfo {
                epoch: b.epoch,
                step: b.step,
                indices: std::slice::from_raw_parts(b.indices, b.len),
                losses: std::slice::from_raw_parts(b.losses, b.len),
            }
        };
        me.plugin.on_train_batch_end(&me.host, &info)
    })
}

unsafe extern "C" fn on_train_epoch_end<P: Plugin>(ptr: *mut c_void, epoch: *const EpochC, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        let (me, e) = unsafe { (instance::<P>(ptr), &*epoch) };
        me.plugin.on_train_epoch_end(&me.host, &EpochInfo { epoch: e.epoch, loss: e.loss, accuracy: e.accuracy })
    })
}

unsafe extern "C" fn score_batch<P: Plugin>(
    ptr: *mut c_void,
    batch: *const ScoreBatchC,
    images: *mut C_tensor,
    labels: *mut C_tensor,
    out: *mut *mut C_tensor,
    err: *mut ErrorSink,
) -> Status {
    guarded(err, || {
        let (me, batch) = unsafe { (instance::<P>(ptr), &*batch) };
        let batch = ScoreBatch { epoch: batch.epoch, offset: batch.offset };
        // Borrowed handles: take shallow copies with handles of our own.
        let (images, labels) = unsafe { (Tensor::clone_from_ptr(images), Tensor::clone_from_ptr(labels)) };
        let mut scores = me.plugin.score_batch(&me.host, &batch, &images, &labels)?;
        // Hand the result over for good: the host takes ownership of the handle.
        unsafe { *out = scores.as_mut_ptr() };
        std::mem::forget(scores);
        Ok(())
    })
}

fn array<'a>(a: &'a ArrayC) -> NamedArray<'a> {
    // SAFETY: the host's arrays are valid for the duration of the call.
    unsafe {
        NamedArray {
            name: a.name.as_str(),
            kind: ArrayKind::from_code(a.kind).unwrap_or(ArrayKind::Score),
            values: if a.len == 0 { &[] } else { std::slice::from_raw_parts(a.values, a.len) },
        }
    }
}

unsafe extern "C" fn on_scores<P: Plugin>(ptr: *mut c_void, scores: *const ScoresC, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        let (me, s) = unsafe { (instance::<P>(ptr), &*scores) };
        me.plugin.on_scores(&me.host, s.epoch, &array(&s.array))
    })
}

unsafe extern "C" fn on_job_end<P: Plugin>(ptr: *mut c_void, end: *const JobEndC, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        let (me, e) = unsafe { (instance::<P>(ptr), &*end) };
        let raw = if e.len == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(e.arrays, e.len) } };
        let arrays: Vec<NamedArray<'_>> = raw.iter().map(array).collect();
        me.plugin.on_job_end(&me.host, e.ok, &arrays)
    })
}

impl Hook {
    /// This hook's bit in [`PluginDescriptor::hooks`].
    pub fn bit(self) -> u32 {
        1 << (Hook::ALL.iter().position(|h| *h == self).expect("every hook is in ALL") as u32)
    }
}
