//! The binary interface between host and plugin: `#[repr(C)]` types only. Plugin
//! authors never touch these; [`crate::export_plugin!`] and [`crate::Host`] wrap them.
//! Any change here bumps [`crate::ABI_VERSION`].

use std::ffi::c_void;
use torch_sys::C_tensor;

/// A borrowed UTF-8 string: pointer and length, valid for the duration of the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct StrRef {
    /// First byte.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl StrRef {
    /// Borrows `s`.
    pub fn new(s: &str) -> Self {
        StrRef { ptr: s.as_ptr(), len: s.len() }
    }

    /// The string.
    ///
    /// # Safety
    /// `ptr` must point to `len` bytes of valid UTF-8 that outlive `'a`.
    pub unsafe fn as_str<'a>(self) -> &'a str {
        if self.len == 0 {
            return "";
        }
        // SAFETY: guaranteed by the caller.
        unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(self.ptr, self.len)) }
    }
}

/// Outcome of a call across the boundary.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Success.
    Ok = 0,
    /// The callee returned an error; its message went to the error sink.
    Error = 1,
    /// The callee panicked; the panic message went to the error sink.
    Panic = 2,
}

/// Where the callee writes an error message.
#[repr(C)]
pub struct ErrorSink {
    /// Opaque to the callee.
    pub ctx: *mut c_void,
    /// Receives the message (copied by the receiver).
    pub write: unsafe extern "C" fn(ctx: *mut c_void, message: StrRef),
}

/// What every hook learns about the job when it starts.
#[repr(C)]
pub struct JobInfoC {
    /// Run name.
    pub run: StrRef,
    /// Run directory.
    pub run_dir: StrRef,
    /// Training samples.
    pub samples: usize,
    /// Classes.
    pub classes: usize,
    /// Epochs.
    pub epochs: usize,
    /// Job seed.
    pub seed: u64,
}

/// The labels of the training set, which `on_dataset_ready` may rewrite in place.
#[repr(C)]
pub struct DatasetC {
    /// Labels, `samples` of them, in `0..classes`.
    pub labels: *mut i64,
    /// Training samples.
    pub samples: usize,
    /// Classes.
    pub classes: usize,
}

/// One optimizer step's per-sample training losses, labels and (for subscribers of
/// `train_batch_outputs`) logits.
#[repr(C)]
pub struct BatchC {
    /// 0-based epoch.
    pub epoch: usize,
    /// Step within the epoch.
    pub step: usize,
    /// Sample indices.
    pub indices: *const i64,
    /// Per-sample losses, same order.
    pub losses: *const f32,
    /// Labels trained on, same order.
    pub labels: *const i64,
    /// Samples in the batch.
    pub len: usize,
    /// Logits of the training forward pass, `[len, classes]` row-major; null (and
    /// `logits_len` 0) when no plugin subscribes to `train_batch_outputs`.
    pub logits: *const f32,
    /// Number of logits: `len * classes`, or 0.
    pub logits_len: usize,
    /// Classes.
    pub classes: usize,
}

/// One epoch's training statistics.
#[repr(C)]
pub struct EpochC {
    /// 0-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// Training accuracy.
    pub accuracy: f64,
}

/// Where a scoring batch sits: the snapshot's epoch and the index of the batch's first
/// sample (samples are scored in order), so a scorer can seed per-sample randomness.
#[repr(C)]
pub struct ScoreBatchC {
    /// 0-based epoch of the snapshot.
    pub epoch: usize,
    /// Index of the batch's first sample in the training set.
    pub offset: usize,
}

/// A named per-sample array (a score, a mask, labels).
#[repr(C)]
pub struct ArrayC {
    /// Name (`curvature`, `noise_mask`, ...).
    pub name: StrRef,
    /// What it is: 0 score, 1 mask, 2 labels.
    pub kind: u32,
    /// Values.
    pub values: *const f32,
    /// Number of values.
    pub len: usize,
}

/// A scorer's values for one scored epoch.
#[repr(C)]
pub struct ScoresC {
    /// 0-based epoch of the snapshot.
    pub epoch: usize,
    /// The score.
    pub array: ArrayC,
}

/// What `on_job_end` receives.
#[repr(C)]
pub struct JobEndC {
    /// Whether training and scoring completed.
    pub ok: bool,
    /// Every final per-sample array: scores, masks, labels.
    pub arrays: *const ArrayC,
    /// Number of arrays.
    pub len: usize,
}

/// Bytes lent for one call (a plugin's saved state).
#[repr(C)]
pub struct BytesC {
    /// First byte (may be null when `len` is 0).
    pub data: *const u8,
    /// Number of bytes.
    pub len: usize,
}

/// Where `save_state` writes the plugin's state (the receiver copies the bytes).
#[repr(C)]
pub struct ByteSink {
    /// Opaque to the plugin.
    pub ctx: *mut c_void,
    /// Receives the state, once.
    pub write: unsafe extern "C" fn(ctx: *mut c_void, data: *const u8, len: usize),
}

/// A named value of a comparison.
#[repr(C)]
pub struct MetricC {
    /// Metric name (`auroc`, `spearman`, `top_k_overlap@1000`, ...).
    pub name: StrRef,
    /// Its value.
    pub value: f64,
}

/// Callbacks into the host, valid for the plugin instance's lifetime.
#[repr(C)]
pub struct HostApiC {
    /// Opaque host context for this plugin instance.
    pub ctx: *mut c_void,
    /// Logits of the model being scored, for `input`; autograd flows through it.
    /// Only valid during `score_batch`.
    pub forward: unsafe extern "C" fn(ctx: *mut c_void, input: *mut C_tensor, out: *mut *mut C_tensor, err: *mut ErrorSink) -> Status,
    /// Logs a message (level 0 error .. 4 trace).
    pub log: unsafe extern "C" fn(ctx: *mut c_void, level: u32, message: StrRef),
    /// Publishes a named per-sample array: kind 0 score (`scores/<name>.npy`), 1 mask
    /// (`<name>.npy`, bool), 2 labels (`<name>.npy`, int64).
    pub publish_array: unsafe extern "C" fn(ctx: *mut c_void, array: *const ArrayC, err: *mut ErrorSink) -> Status,
    /// Publishes a scalar metric.
    pub publish_metric: unsafe extern "C" fn(ctx: *mut c_void, name: StrRef, value: f64),
    /// Publishes a comparison of a score with a target.
    pub publish_comparison: unsafe extern "C" fn(
        ctx: *mut c_void,
        score: StrRef,
        against: StrRef,
        metrics: *const MetricC,
        len: usize,
        err: *mut ErrorSink,
    ) -> Status,
    /// Writes a file under the run directory (relative path, no `..`).
    pub write_file: unsafe extern "C" fn(ctx: *mut c_void, path: StrRef, data: *const u8, len: usize, err: *mut ErrorSink) -> Status,
    /// Gradient with respect to `input` of the summed cross-entropy of the model's
    /// logits for `input` against `labels` (`[B]`, int64), in eval mode. Only valid
    /// during `score_batch`.
    pub input_gradient: unsafe extern "C" fn(
        ctx: *mut c_void,
        input: *mut C_tensor,
        labels: *mut C_tensor,
        out: *mut *mut C_tensor,
        err: *mut ErrorSink,
    ) -> Status,
    /// Per row of `input`, the L2 norm of the gradient of that row's cross-entropy
    /// (against its label in `labels`, `[B]` int64) with respect to every trainable
    /// parameter of the model, in eval mode: `float32 [B]`. Only valid during
    /// `score_batch`.
    pub parameter_gradient_norms: unsafe extern "C" fn(
        ctx: *mut c_void,
        input: *mut C_tensor,
        labels: *mut C_tensor,
        out: *mut *mut C_tensor,
        err: *mut ErrorSink,
    ) -> Status,
}

/// Signature shared by the simple hooks: instance, argument, error sink.
pub type HookFn<T> = unsafe extern "C" fn(instance: *mut c_void, arg: *const T, err: *mut ErrorSink) -> Status;

/// The one thing a plugin library exports (as [`DESCRIPTOR_SYMBOL`]). The host reads
/// the versions before calling anything else.
#[repr(C)]
pub struct PluginDescriptor {
    /// [`crate::ABI_VERSION`] the plugin was built with.
    pub abi_version: u32,
    /// SDK version the plugin was built with.
    pub sdk_version: StrRef,
    /// libtorch version the plugin was built against ([`crate::TORCH_BUILT_WITH`] of
    /// its build).
    pub torch_version: StrRef,
    /// The plugin's name.
    pub name: StrRef,
    /// The plugin's own version.
    pub version: StrRef,
    /// Bit `1 << hook as u32` for every hook the plugin subscribes to.
    pub hooks: u32,
    /// Whether the plugin was built without optimizations (`cfg!(debug_assertions)` of
    /// the plugin crate): the host warns, since a debug build of a scorer is many
    /// times slower, and records it in the run's provenance.
    pub debug_build: bool,
    /// Creates an instance from the TOML text of its `config` table.
    pub create: unsafe extern "C" fn(config: StrRef, host: *const HostApiC, out: *mut *mut c_void, err: *mut ErrorSink) -> Status,
    /// Drops an instance.
    pub destroy: unsafe extern "C" fn(instance: *mut c_void),
    /// `on_job_start`.
    pub on_job_start: HookFn<JobInfoC>,
    /// `on_dataset_ready` (the argument is mutable: labels may be rewritten).
    pub on_dataset_ready: unsafe extern "C" fn(instance: *mut c_void, data: *mut DatasetC, err: *mut ErrorSink) -> Status,
    /// `on_train_batch_end`.
    pub on_train_batch_end: HookFn<BatchC>,
    /// `on_train_epoch_end`.
    pub on_train_epoch_end: HookFn<EpochC>,
    /// `save_state`: the instance's state, written to the sink.
    pub save_state: unsafe extern "C" fn(instance: *mut c_void, out: *mut ByteSink, err: *mut ErrorSink) -> Status,
    /// `load_state`: the state a checkpoint holds.
    pub load_state: HookFn<BytesC>,
    /// `score_batch`: per-sample scores of a batch, returned as an owned tensor.
    pub score_batch: unsafe extern "C" fn(
        instance: *mut c_void,
        batch: *const ScoreBatchC,
        images: *mut C_tensor,
        labels: *mut C_tensor,
        out: *mut *mut C_tensor,
        err: *mut ErrorSink,
    ) -> Status,
    /// `on_scores`.
    pub on_scores: HookFn<ScoresC>,
    /// `on_job_end`.
    pub on_job_end: HookFn<JobEndC>,
}

/// Name of the exported symbol: `extern "C" fn() -> *const PluginDescriptor`. It
/// names the ABI version, so a library of another ABI does not even have it (and the
/// host can say which ABI it does have, see [`older_descriptor_symbol`]).
pub const DESCRIPTOR_SYMBOL: &[u8] = b"memscope_plugin_v4";

// The symbol and the version must tell one story: bumping ABI_VERSION means renaming
// the symbol here and in `export_plugin!`.
const _: () = assert!(crate::ABI_VERSION == 4, "rename DESCRIPTOR_SYMBOL and export_plugin!'s function to memscope_plugin_v<ABI_VERSION>");

/// The descriptor symbol of ABI version `abi` (for the host's message about a library
/// built for another one).
pub fn older_descriptor_symbol(abi: u32) -> String {
    format!("memscope_plugin_v{abi}")
}

/// Type of the exported symbol.
pub type DescriptorFn = unsafe extern "C" fn() -> *const PluginDescriptor;

/// Where a settings check writes each problem it finds (the receiver copies both
/// strings).
#[repr(C)]
pub struct ProblemSink {
    /// Opaque to the plugin.
    pub ctx: *mut c_void,
    /// Receives one problem: the dotted key in the plugin's `config` table (empty for
    /// the table as a whole) and what is wrong.
    pub write: unsafe extern "C" fn(ctx: *mut c_void, key: StrRef, message: StrRef),
}

/// Name of the optional settings-check entry point, exported beside the descriptor
/// by [`crate::export_plugin!`]: `extern "C" fn(config: StrRef, problems: *mut
/// ProblemSink, err: *mut ErrorSink) -> Status` ([`CheckSettingsFn`]). It runs
/// [`crate::Plugin::check_settings`] on the TOML text of a job's `config` table
/// without creating the plugin; `Status::Ok` means it ran (problems, if any, went to
/// the sink). Additive, outside the descriptor, so neither its layout nor
/// [`crate::ABI_VERSION`] changed: a library built before it has no such symbol and
/// still loads, and the host checks its settings by creating it. Its own version is
/// the `_v1` of its name (another signature would be another name).
pub const CHECK_SETTINGS_SYMBOL: &[u8] = b"memscope_plugin_check_settings_v1";

/// Type of the [`CHECK_SETTINGS_SYMBOL`] entry point.
pub type CheckSettingsFn = unsafe extern "C" fn(config: StrRef, problems: *mut ProblemSink, err: *mut ErrorSink) -> Status;

/// Calls `f` with an error sink and returns its status and the message written to the
/// sink, if any. Used on both sides of the boundary.
pub fn with_sink(f: impl FnOnce(*mut ErrorSink) -> Status) -> (Status, Option<String>) {
    unsafe extern "C" fn write(ctx: *mut c_void, message: StrRef) {
        // SAFETY: ctx is the `Option<String>` below; message is valid for this call.
        unsafe { *(ctx as *mut Option<String>) = Some(message.as_str().to_string()) }
    }
    let mut message: Option<String> = None;
    let mut sink = ErrorSink { ctx: &mut message as *mut Option<String> as *mut c_void, write };
    let status = f(&mut sink);
    (status, message)
}
