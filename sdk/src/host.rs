//! The host's callbacks, wrapped in safe methods.

use crate::abi::{with_sink, ArrayC, ErrorSink, HostApiC, MetricC, Status, StrRef};
use crate::plugin::{ArrayKind, PluginError, PluginResult};
use tch::Tensor;

/// Log levels for [`Host::log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something failed.
    Error = 0,
    /// Something looks wrong.
    Warn = 1,
    /// Progress worth telling a user.
    Info = 2,
    /// Detail for debugging.
    Debug = 3,
}

/// The host, as a plugin sees it.
pub struct Host {
    api: *const HostApiC,
}

// SAFETY: the host's callbacks are thread-safe; the pointer stays valid for the
// instance's lifetime (the host owns it and never frees it before `destroy`).
unsafe impl Send for Host {}

impl Host {
    /// Wraps the host's callback table.
    ///
    /// # Safety
    /// `api` must stay valid for as long as this value is used.
    pub unsafe fn from_raw(api: *const HostApiC) -> Self {
        Host { api }
    }

    fn api(&self) -> &HostApiC {
        // SAFETY: valid per `from_raw`'s contract.
        unsafe { &*self.api }
    }

    /// Logits of the model being scored for `input` (`[B, C, H, W]`). Autograd flows
    /// through the host's model, so gradients with respect to `input` work. Only
    /// available inside `score_batch`.
    pub fn forward(&self, input: &Tensor) -> PluginResult<Tensor> {
        let mut input = input.shallow_clone();
        // SAFETY: the callback table is valid (`from_raw`); `input` outlives the call.
        tensor_from("forward", |out, err| unsafe { (self.api().forward)(self.api().ctx, input.as_mut_ptr(), out, err) })
    }

    /// Gradient with respect to `input` (`[B, C, H, W]`) of the **summed**
    /// cross-entropy of the model's logits against `labels` (`[B]`, int64), in eval
    /// mode: what `forward`, a sum-reduced cross-entropy and a backward pass give,
    /// but where the host knows a faster way for its model (the `cnn` on the CPU,
    /// without autograd), it takes it. The result does not require grad. Only
    /// available inside `score_batch`.
    pub fn input_gradient(&self, input: &Tensor, labels: &Tensor) -> PluginResult<Tensor> {
        let (mut input, mut labels) = (input.shallow_clone(), labels.shallow_clone());
        // SAFETY: as in `forward`.
        tensor_from("input_gradient", |out, err| unsafe {
            (self.api().input_gradient)(self.api().ctx, input.as_mut_ptr(), labels.as_mut_ptr(), out, err)
        })
    }

    /// Per sample of `input` (`[B, C, H, W]`), the L2 norm of the gradient of its own
    /// cross-entropy against its label (`labels`, `[B]` int64) with respect to every
    /// trainable parameter of the model being scored, in eval mode: `float32 [B]`
    /// (GraNd, Paul et al. 2021). One backward pass per sample: it costs about `B`
    /// times a batch's input gradient. Only available inside `score_batch`.
    pub fn parameter_gradient_norms(&self, input: &Tensor, labels: &Tensor) -> PluginResult<Tensor> {
        let (mut input, mut labels) = (input.shallow_clone(), labels.shallow_clone());
        // SAFETY: as in `forward`.
        tensor_from("parameter_gradient_norms", |out, err| unsafe {
            (self.api().parameter_gradient_norms)(self.api().ctx, input.as_mut_ptr(), labels.as_mut_ptr(), out, err)
        })
    }

    /// Logs through the host's logger, prefixed with the plugin's name.
    pub fn log(&self, level: Level, message: &str) {
        // SAFETY: the host's callback table outlives the instance (see `from_raw`); the
        // message is borrowed for the call only.
        unsafe { (self.api().log)(self.api().ctx, level as u32, StrRef::new(message)) }
    }

    /// Publishes a named per-sample array: a score (`scores/<name>.npy`, compared by
    /// the baseline comparer), a mask or labels (`<name>.npy` in the run directory).
    pub fn publish_array(&self, name: &str, kind: ArrayKind, values: &[f32]) -> PluginResult {
        let array = ArrayC { name: StrRef::new(name), kind: kind.code(), values: values.as_ptr(), len: values.len() };
        // SAFETY: the table outlives the instance; `array` and what it points to live
        // on this stack frame for the whole call.
        let (status, message) = with_sink(|err| unsafe { (self.api().publish_array)(self.api().ctx, &array, err) });
        check(status, message)
    }

    /// Publishes a scalar metric (exported with a `plugin` label).
    pub fn publish_metric(&self, name: &str, value: f64) {
        // SAFETY: the table outlives the instance; `name` is borrowed for the call.
        unsafe { (self.api().publish_metric)(self.api().ctx, StrRef::new(name), value) }
    }

    /// Publishes a comparison of `score` with `against`; it goes into `summary.json`.
    pub fn publish_comparison(&self, score: &str, against: &str, metrics: &[(String, f64)]) -> PluginResult {
        let metrics: Vec<MetricC> = metrics.iter().map(|(n, v)| MetricC { name: StrRef::new(n), value: *v }).collect();
        // SAFETY: the table outlives the instance; the strings and `metrics` live on this
        // stack frame for the whole call.
        let (status, message) = with_sink(|err| unsafe {
            (self.api().publish_comparison)(self.api().ctx, StrRef::new(score), StrRef::new(against), metrics.as_ptr(), metrics.len(), err)
        });
        check(status, message)
    }

    /// Writes `data` to `path` relative to the run directory.
    pub fn write_file(&self, path: &str, data: &[u8]) -> PluginResult {
        // SAFETY: the table outlives the instance; `path` and `data` are borrowed for the
        // call.
        let (status, message) =
            with_sink(|err| unsafe { (self.api().write_file)(self.api().ctx, StrRef::new(path), data.as_ptr(), data.len(), err) });
        check(status, message)
    }
}

fn check(status: Status, message: Option<String>) -> PluginResult {
    match status {
        Status::Ok => Ok(()),
        _ => Err(PluginError(message.unwrap_or_else(|| "the host refused".into()))),
    }
}

/// Runs a host callback named `name` that hands over a tensor through its
/// out-parameter, and adopts that tensor.
fn tensor_from(name: &str, call: impl FnOnce(*mut *mut torch_sys::C_tensor, *mut ErrorSink) -> Status) -> PluginResult<Tensor> {
    let mut out: *mut torch_sys::C_tensor = std::ptr::null_mut();
    let (status, message) = with_sink(|err| call(&mut out, err));
    match status {
        // SAFETY: on success the host handed over ownership of a fresh handle.
        Status::Ok if !out.is_null() => Ok(unsafe { Tensor::from_ptr(out) }),
        _ => Err(PluginError(message.unwrap_or_else(|| format!("{name} failed")))),
    }
}
