//! The host side of the SDK's callbacks (`HostApiC`): each plugin instance gets a
//! context naming it, and everything it publishes is collected in `PluginOutputs`.

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
    /// The run directory (files are written only under it).
    pub run_dir: PathBuf,
    /// The network being scored; non-null only during `score_batch`.
    pub network: AtomicPtr<Network>,
    /// Where publications go.
    pub outputs: Arc<Mutex<PluginOutputs>>,
    /// Number of training samples (published arrays must match).
    pub samples: usize,
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
        }
    }
}

unsafe fn context<'a>(ctx: *mut c_void) -> &'a HostContext {
    // SAFETY: ctx is the `Arc<HostContext>` pointer given in `api`, kept alive by the set.
    unsafe { &*(ctx as *const HostContext) }
}

fn fail(err: *mut ErrorSink, message: &str) -> Status {
    if !err.is_null() {
        // SAFETY: the plugin passes a valid sink for the call.
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
fn hand_over(mut tensor: Tensor, out: *mut *mut C_tensor) {
    // SAFETY: `out` is the plugin's out-parameter for this call.
    unsafe { *out = tensor.as_mut_ptr() };
    std::mem::forget(tensor);
}

unsafe extern "C" fn forward(ctx: *mut c_void, input: *mut C_tensor, out: *mut *mut C_tensor, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        let network = scored_network(unsafe { context(ctx) }, "forward")?;
        // A borrowed handle: take our own shallow copy.
        let input = unsafe { Tensor::clone_from_ptr(input) };
        hand_over(network.forward(&input, false).map_err(|e| e.to_string())?, out);
        Ok(())
    })
}

unsafe extern "C" fn input_gradient(
    ctx: *mut c_void,
    input: *mut C_tensor,
    labels: *mut C_tensor,
    out: *mut *mut C_tensor,
    err: *mut ErrorSink,
) -> Status {
    guarded(err, || {
        let network = scored_network(unsafe { context(ctx) }, "input_gradient")?;
        // Borrowed handles: take our own shallow copies.
        let (input, labels) = unsafe { (Tensor::clone_from_ptr(input), Tensor::clone_from_ptr(labels)) };
        let rows = input.size().first().copied().unwrap_or(0);
        if labels.kind() != tch::Kind::Int64 || labels.size() != [rows] {
            return Err(format!("input_gradient: labels must be int64 [{rows}], one per input row; got {:?} {:?}", labels.kind(), labels.size()));
        }
        hand_over(network.input_gradient(&input, &labels).map_err(|e| e.to_string())?, out);
        Ok(())
    })
}

unsafe extern "C" fn log(ctx: *mut c_void, level: u32, message: StrRef) {
    let _ = catch_unwind(|| {
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

unsafe extern "C" fn publish_array(ctx: *mut c_void, array: *const ArrayC, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        let (ctx, array) = unsafe { (context(ctx), &*array) };
        let name = unsafe { array.name.as_str() }.to_string();
        check_name(&name)?;
        if array.len != ctx.samples {
            return Err(format!("array `{name}` has {} values for {} samples", array.len, ctx.samples));
        }
        let values = unsafe { std::slice::from_raw_parts(array.values, array.len) }.to_vec();
        if values.iter().any(|v| v.is_nan()) {
            return Err(format!("array `{name}` holds NaN"));
        }
        let kind = ArrayKind::from_code(array.kind).ok_or_else(|| format!("array `{name}` has unknown kind {}", array.kind))?;
        let mut outputs = ctx.outputs.lock().expect("plugin outputs lock");
        outputs.arrays.retain(|a| a.name != name);
        outputs.arrays.push(PublishedArray { plugin: ctx.plugin.clone(), name, kind, values });
        Ok(())
    })
}

unsafe extern "C" fn publish_metric(ctx: *mut c_void, name: StrRef, value: f64) {
    let _ = catch_unwind(|| {
        let (ctx, name) = unsafe { (context(ctx), name.as_str().to_string()) };
        tracing::debug!(plugin = ctx.plugin.as_str(), "metric {name} = {value}");
        metrics::gauge!(plugin_metric_name(&name), "run" => ctx.run.clone(), "plugin" => ctx.plugin.clone()).set(value);
        ctx.outputs.lock().expect("plugin outputs lock").metrics.push((ctx.plugin.clone(), name, value));
    });
}

unsafe extern "C" fn publish_comparison(
    ctx: *mut c_void,
    score: StrRef,
    against: StrRef,
    metrics: *const MetricC,
    len: usize,
    err: *mut ErrorSink,
) -> Status {
    guarded(err, || {
        let ctx = unsafe { context(ctx) };
        let raw = if len == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(metrics, len) } };
        let metrics: BTreeMap<String, f64> = raw.iter().map(|m| (unsafe { m.name.as_str() }.to_string(), m.value)).collect();
        let comparison = Comparison {
            score: unsafe { score.as_str() }.to_string(),
            against: unsafe { against.as_str() }.to_string(),
            plugin: ctx.plugin.clone(),
            metrics,
        };
        ctx.outputs.lock().expect("plugin outputs lock").comparisons.push(comparison);
        Ok(())
    })
}

unsafe extern "C" fn write_file(ctx: *mut c_void, path: StrRef, data: *const u8, len: usize, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        let (ctx, rel) = unsafe { (context(ctx), path.as_str()) };
        let rel_path = Path::new(rel);
        if rel.is_empty() || !rel_path.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(format!("`{rel}` is not a plain relative path inside the run directory"));
        }
        let target = ctx.run_dir.join(rel_path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let bytes = if len == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(data, len) } };
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
