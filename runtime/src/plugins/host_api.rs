//! The host side of the SDK's callbacks (`HostApiC`): each plugin instance gets a
//! context naming it, and everything it publishes is collected in `PluginOutputs`.

use super::names::{Owner, Owners};
use crate::model::Network;
use crate::run::Comparison;
use memscope_sdk::abi::{ArrayC, ErrorSink, HostApiC, MetricC, Status, StrRef};
use memscope_sdk::ArrayKind;
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex};
use tch::Tensor;
use torch_sys::C_tensor;

/// A per-sample array a plugin published.
#[derive(Debug, Clone)]
pub struct PublishedArray {
    /// The plugin that published it.
    pub plugin: String,
    /// Its name.
    pub name: String,
    /// Score, mask or labels.
    pub kind: ArrayKind,
    /// One value per sample.
    pub values: Vec<f32>,
}

/// Everything plugins published during a job.
#[derive(Debug, Default)]
pub struct PluginOutputs {
    /// Per-sample arrays, in publication order (a later one replaces an earlier one
    /// of the same name).
    pub arrays: Vec<PublishedArray>,
    /// Comparisons, for `summary.json`.
    pub comparisons: Vec<Comparison>,
    /// Scalar metrics: plugin, name, value.
    pub metrics: Vec<(String, String, f64)>,
}

/// What a plugin instance's callbacks act on.
pub struct HostContext {
    /// The plugin's name, for logs, errors and the `plugin` metric label.
    pub plugin: String,
    /// The run's name, for the `run` metric label.
    pub run: String,
    /// The run directory (files are written only under it); none for a run in memory.
    pub run_dir: Option<PathBuf>,
    /// The network being scored; non-null only during `score_batch`.
    pub network: AtomicPtr<Network>,
    /// Where publications go.
    pub outputs: Arc<Mutex<PluginOutputs>>,
    /// Number of training samples (published arrays must match).
    pub samples: usize,
    /// This plugin entry, as the owner of the names it publishes.
    pub owner: Owner,
    /// Who owns which name in this job (shared by all its plugins).
    pub owners: Arc<Mutex<Owners>>,
}

impl HostContext {
    /// The context of plugin `plugin` (entry `owner`) in a job.
    pub fn new(
        plugin: &str,
        run: &str,
        run_dir: Option<PathBuf>,
        outputs: Arc<Mutex<PluginOutputs>>,
        samples: usize,
        owner: Owner,
        owners: Arc<Mutex<Owners>>,
    ) -> Self {
        HostContext {
            plugin: plugin.to_string(),
            run: run.to_string(),
            run_dir,
            network: AtomicPtr::new(std::ptr::null_mut()),
            outputs,
            samples,
            owner,
            owners,
        }
    }
}

impl HostContext {
    /// The callback table for this context. The context must outlive the plugin.
    pub fn api(self: &Arc<Self>) -> HostApiC {
        HostApiC {
            ctx: Arc::as_ptr(self) as *mut c_void,
            forward,
            log,
            publish_array,
            publish_metric,
            publish_comparison,
            write_file,
            input_gradient,
            parameter_gradient_norms,
            size: std::mem::size_of::<HostApiC>(),
            abi_version: memscope_sdk::ABI_VERSION,
        }
    }
}

/// The context behind a callback's `ctx`.
///
/// # Safety
/// `ctx` must be the pointer [`HostContext::api`] put in the callback table, and the
/// `Arc<HostContext>` it came from must still be alive (the plugin set holds it for
/// as long as the plugin instance exists).
unsafe fn context<'a>(ctx: *mut c_void) -> &'a HostContext {
    // SAFETY: ctx is the `Arc<HostContext>` pointer given in `api`, kept alive by the set.
    unsafe { &*(ctx as *const HostContext) }
}

fn fail(err: *mut ErrorSink, message: &str) -> Status {
    if !err.is_null() {
        // SAFETY: a non-null sink is the one the SDK passes for this call; its `write`
        // copies the message before returning.
        unsafe { ((*err).write)((*err).ctx, StrRef::new(message)) };
    }
    Status::Error
}

/// Runs a callback body, turning a host panic into an error for the plugin.
fn guarded(err: *mut ErrorSink, f: impl FnOnce() -> Result<(), String>) -> Status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => Status::Ok,
        Ok(Err(message)) => fail(err, &message),
        Err(_) => fail(err, "the host panicked in this callback"),
    }
}

/// The network being scored, for the callback `name`: only set during `score_batch`.
fn scored_network<'a>(ctx: &'a HostContext, name: &str) -> Result<&'a Network, String> {
    let network = ctx.network.load(Ordering::Acquire);
    if network.is_null() {
        return Err(format!("{name} is only available inside score_batch"));
    }
    // SAFETY: the scorer sets the pointer for the duration of score_batch only.
    Ok(unsafe { &*network })
}

/// Hands a result tensor to the plugin for good (it adopts it with `from_ptr`).
fn hand_over(mut tensor: Tensor, out: *mut *mut C_tensor) -> Result<(), String> {
    if out.is_null() {
        return Err("the out-parameter for the result tensor is null".into());
    }
    // SAFETY: `out` is the plugin's non-null out-parameter for this call (the SDK
    // passes the address of a local), valid for one write.
    unsafe { *out = tensor.as_mut_ptr() };
    std::mem::forget(tensor);
    Ok(())
}

/// A slice the plugin lends for one call: empty when `len` is 0 (the pointer may then
/// be null or dangling, which `from_raw_parts` does not allow), an error when the
/// pointer is null for a non-empty one.
///
/// # Safety
/// When `len > 0` and `ptr` is not null, `ptr` must point to `len` initialized values
/// that stay valid and unchanged for `'a` (the duration of the callback).
unsafe fn borrowed<'a, T>(ptr: *const T, len: usize, what: &str) -> Result<&'a [T], String> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() || !ptr.is_aligned() {
        return Err(format!("{what}: a null or misaligned pointer for {len} values"));
    }
    if len.checked_mul(std::mem::size_of::<T>()).is_none_or(|bytes| bytes > isize::MAX as usize) {
        return Err(format!("{what}: {len} values is more than memory can hold"));
    }
    // SAFETY: non-null, aligned, at most isize::MAX bytes (checked above); the caller
    // guarantees `len` initialized values alive for 'a.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// # Safety
/// Called by the SDK only: `ctx` from [`HostContext::api`], tensor handles alive for the
/// call, `out` and `err` valid for one write. The other callbacks follow the same rule.
unsafe extern "C" fn forward(ctx: *mut c_void, input: *mut C_tensor, out: *mut *mut C_tensor, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        // SAFETY: `ctx` is the pointer from `HostContext::api`; the set keeps it alive.
        let network = scored_network(unsafe { context(ctx) }, "forward")?;
        if input.is_null() {
            return Err("forward: the input tensor is null".into());
        }
        // A borrowed handle: take our own shallow copy.
        // SAFETY: a non-null libtorch tensor handle the plugin owns for the call (the
        // SDK's `Host::forward` passes `as_ptr` of a live tensor); the copy has its own
        // reference count.
        let input = unsafe { Tensor::clone_from_ptr(input) };
        hand_over(network.forward(&input, false).map_err(|e| e.to_string())?, out)
    })
}

/// Our own shallow copies of an input batch and its labels, borrowed from a plugin for
/// the call `what`, with the labels checked: `int64 [rows]`, one per input row.
///
/// # Safety
/// Each handle is null or a live tensor the plugin holds for the call.
unsafe fn input_and_labels(what: &str, input: *mut C_tensor, labels: *mut C_tensor) -> Result<(Tensor, Tensor), String> {
    if input.is_null() || labels.is_null() {
        return Err(format!("{what}: a tensor handle is null"));
    }
    // SAFETY: non-null handles of live tensors, as the caller promises.
    let (input, labels) = unsafe { (Tensor::clone_from_ptr(input), Tensor::clone_from_ptr(labels)) };
    let rows = input.size().first().copied().unwrap_or(0);
    if labels.kind() != tch::Kind::Int64 || labels.size() != [rows] {
        return Err(format!("{what}: labels must be int64 [{rows}], one per input row; got {:?} {:?}", labels.kind(), labels.size()));
    }
    Ok((input, labels))
}

/// # Safety
/// As [`forward`]: arguments as the SDK passes them, alive for the call.
unsafe extern "C" fn input_gradient(
    ctx: *mut c_void,
    input: *mut C_tensor,
    labels: *mut C_tensor,
    out: *mut *mut C_tensor,
    err: *mut ErrorSink,
) -> Status {
    guarded(err, || {
        // SAFETY: `ctx` is the pointer from `HostContext::api`; the set keeps it alive.
        let network = scored_network(unsafe { context(ctx) }, "input_gradient")?;
        // SAFETY: the plugin passes handles of live tensors it holds for the call.
        let (input, labels) = unsafe { input_and_labels("input_gradient", input, labels) }?;
        hand_over(network.input_gradient(&input, &labels).map_err(|e| e.to_string())?, out)
    })
}

/// # Safety
/// As [`forward`]: arguments as the SDK passes them, alive for the call.
unsafe extern "C" fn parameter_gradient_norms(
    ctx: *mut c_void,
    input: *mut C_tensor,
    labels: *mut C_tensor,
    out: *mut *mut C_tensor,
    err: *mut ErrorSink,
) -> Status {
    guarded(err, || {
        // SAFETY: `ctx` is the pointer from `HostContext::api`; the set keeps it alive.
        let network = scored_network(unsafe { context(ctx) }, "parameter_gradient_norms")?;
        // SAFETY: the plugin passes handles of live tensors it holds for the call.
        let (input, labels) = unsafe { input_and_labels("parameter_gradient_norms", input, labels) }?;
        hand_over(network.parameter_gradient_norms(&input, &labels).map_err(|e| e.to_string())?, out)
    })
}

/// # Safety
/// As [`forward`]: arguments as the SDK passes them, alive for the call.
unsafe extern "C" fn log(ctx: *mut c_void, level: u32, message: StrRef) {
    let _ = catch_unwind(|| {
        // SAFETY: `ctx` is the pointer from `HostContext::api`; `message` is a string the
        // plugin lends for the call (the SDK builds it with `StrRef::new`).
        let (ctx, message) = unsafe { (context(ctx), message.as_str()) };
        let plugin = ctx.plugin.as_str();
        match level {
            0 => tracing::error!(plugin, "{message}"),
            1 => tracing::warn!(plugin, "{message}"),
            2 => tracing::info!(plugin, "{message}"),
            3 => tracing::debug!(plugin, "{message}"),
            _ => tracing::trace!(plugin, "{message}"),
        }
    });
}

/// # Safety
/// As [`forward`]: arguments as the SDK passes them, alive for the call.
unsafe extern "C" fn publish_array(ctx: *mut c_void, array: *const ArrayC, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        if array.is_null() {
            return Err("publish_array: the array is null".into());
        }
        // SAFETY: `ctx` is the pointer from `HostContext::api`; `array` is non-null and
        // points to the `ArrayC` the SDK builds on its stack for this call.
        let (ctx, array) = unsafe { (context(ctx), &*array) };
        // SAFETY: the SDK fills `name` with `StrRef::new` of a string alive for the call.
        let name = unsafe { array.name.as_str() }.to_string();
        check_name(&name)?;
        if array.len != ctx.samples {
            return Err(format!("array `{name}` has {} values for {} samples", array.len, ctx.samples));
        }
        // SAFETY: the SDK passes a slice's pointer and length, alive for the call.
        let values = unsafe { borrowed(array.values, array.len, &format!("array `{name}`")) }?.to_vec();
        if values.iter().any(|v| v.is_nan()) {
            return Err(format!("array `{name}` holds NaN"));
        }
        let kind = ArrayKind::from_code(array.kind).ok_or_else(|| format!("array `{name}` has unknown kind {}", array.kind))?;
        ctx.owners.lock().expect("name owners lock").claim(&name, &ctx.owner).map_err(|e| e.to_string())?;
        let mut outputs = ctx.outputs.lock().expect("plugin outputs lock");
        outputs.arrays.retain(|a| a.name != name);
        outputs.arrays.push(PublishedArray { plugin: ctx.plugin.clone(), name, kind, values });
        Ok(())
    })
}

/// # Safety
/// As [`forward`]: arguments as the SDK passes them, alive for the call.
unsafe extern "C" fn publish_metric(ctx: *mut c_void, name: StrRef, value: f64) {
    let _ = catch_unwind(|| {
        // SAFETY: `ctx` is the pointer from `HostContext::api`; `name` is lent for the call.
        let (ctx, name) = unsafe { (context(ctx), name.as_str().to_string()) };
        tracing::debug!(plugin = ctx.plugin.as_str(), "metric {name} = {value}");
        metrics::gauge!(plugin_metric_name(&name), "run" => ctx.run.clone(), "plugin" => ctx.plugin.clone()).set(value);
        ctx.outputs.lock().expect("plugin outputs lock").metrics.push((ctx.plugin.clone(), name, value));
    });
}

/// # Safety
/// As [`forward`]: arguments as the SDK passes them, alive for the call.
unsafe extern "C" fn publish_comparison(
    ctx: *mut c_void,
    score: StrRef,
    against: StrRef,
    metrics: *const MetricC,
    len: usize,
    err: *mut ErrorSink,
) -> Status {
    guarded(err, || {
        // SAFETY: `ctx` is the pointer from `HostContext::api`; the set keeps it alive.
        let ctx = unsafe { context(ctx) };
        // SAFETY: the SDK passes a slice's pointer and length, alive for the call.
        let raw = unsafe { borrowed(metrics, len, "publish_comparison") }?;
        // SAFETY: each metric's name is a `StrRef::new` of a string alive for the call.
        let metrics: BTreeMap<String, f64> = raw.iter().map(|m| (unsafe { m.name.as_str() }.to_string(), m.value)).collect();
        let comparison = Comparison {
            // SAFETY: strings lent for the call, as above.
            score: unsafe { score.as_str() }.to_string(),
            // SAFETY: strings lent for the call, as above.
            against: unsafe { against.as_str() }.to_string(),
            plugin: ctx.plugin.clone(),
            metrics,
        };
        ctx.outputs.lock().expect("plugin outputs lock").comparisons.push(comparison);
        Ok(())
    })
}

/// # Safety
/// As [`forward`]: arguments as the SDK passes them, alive for the call.
unsafe extern "C" fn write_file(ctx: *mut c_void, path: StrRef, data: *const u8, len: usize, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        // SAFETY: `ctx` is the pointer from `HostContext::api`; `path` is lent for the call.
        let (ctx, rel) = unsafe { (context(ctx), path.as_str()) };
        let rel_path = Path::new(rel);
        if rel.is_empty() || !rel_path.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(format!("`{rel}` is not a plain relative path inside the run directory"));
        }
        let Some(run_dir) = &ctx.run_dir else {
            return Err(format!("cannot write `{rel}`: this job runs in memory, without a run directory"));
        };
        let target = run_dir.join(rel_path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        // SAFETY: the SDK passes a slice's pointer and length, alive for the call.
        let bytes = unsafe { borrowed(data, len, "write_file") }?;
        std::fs::write(&target, bytes).map_err(|e| format!("{}: {e}", target.display()))
    })
}

/// `memscope_plugin_<name>`, with anything Prometheus does not allow in a name made `_`.
pub fn plugin_metric_name(name: &str) -> String {
    let clean: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    format!("memscope_plugin_{clean}")
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(format!("`{name}` is not a usable array name (letters, digits, _ and -)"));
    }
    Ok(())
}
