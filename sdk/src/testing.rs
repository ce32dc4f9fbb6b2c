//! A fake host for unit tests of a plugin: plain `cargo test`, no memscope, no job.
//!
//! [`FakeHost`] stands in for memscope: a forward function (or fixed logits) you give
//! it plays the model, and it keeps everything the plugin publishes (arrays, metrics,
//! comparisons, log lines, files). [`TestPlugin`] creates your plugin from its settings
//! text through the same `extern "C"` glue a job uses and calls its hooks with values
//! you give: a hook's error or panic comes back as the `Err` a job would report, and
//! `score_batch`'s result is checked as memscope checks it (`float32 [B]`, finite).
//!
//! ```no_run
//! use memscope_sdk::testing::{FakeHost, TestPlugin};
//! # use memscope_sdk::{Hook, Host, Plugin, PluginResult, ScoreBatch};
//! # use tch::Tensor;
//! # struct MyScorer;
//! # impl Plugin for MyScorer {
//! #     fn name() -> &'static str { "my-scorer" }
//! #     fn hooks() -> &'static [Hook] { &[Hook::ScoreBatch] }
//! #     fn create(_: &str, _: &Host) -> PluginResult<Self> { Ok(MyScorer) }
//! # }
//! // Two samples of two classes: the model answers these logits whatever the input.
//! let host = FakeHost::new().logits(Tensor::from_slice(&[2.0f32, 0.0, 0.0, 2.0]).view([2, 2]));
//! let mut plugin = TestPlugin::<MyScorer>::create("", host).unwrap();
//! let images = Tensor::zeros([2, 1, 8, 8], (tch::Kind::Float, tch::Device::Cpu));
//! let scores = plugin.score_batch(0, 0, &images, &Tensor::from_slice(&[0i64, 0])).unwrap();
//! assert_eq!(scores.len(), 2);
//! ```

use crate::abi::*;
use crate::ffi::descriptor_cell;
use crate::plugin::{ArrayKind, BatchInfo, EpochInfo, JobInfo, NamedArray, Plugin, PluginError, PluginResult};
use crate::{Hook, Level, ABI_VERSION};
use std::ffi::c_void;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use tch::{Kind, Reduction, Tensor};
use torch_sys::C_tensor;

/// The model of a fake host: logits for an input batch.
type Forward = Box<dyn Fn(&Tensor) -> Tensor + Send + Sync>;

/// Everything a plugin published to a [`FakeHost`], in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Published {
    /// Arrays: name, kind, values.
    pub arrays: Vec<(String, ArrayKind, Vec<f32>)>,
    /// Scalar metrics: name, value.
    pub metrics: Vec<(String, f64)>,
    /// Comparisons of a score with a target.
    pub comparisons: Vec<Comparison>,
    /// Log lines with their level.
    pub logs: Vec<(Level, String)>,
    /// Files written under the run directory: relative path, bytes.
    pub files: Vec<(String, Vec<u8>)>,
}

/// A comparison a plugin published (`Host::publish_comparison`).
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The score compared.
    pub score: String,
    /// What it was compared against.
    pub against: String,
    /// The named values (`auroc`, ...).
    pub metrics: Vec<(String, f64)>,
}

impl Published {
    /// The values of the array `name` published last, if any.
    pub fn array(&self, name: &str) -> Option<&[f32]> {
        self.arrays.iter().rev().find(|(n, _, _)| n == name).map(|(_, _, v)| v.as_slice())
    }
}

/// What the host callbacks act on.
struct State {
    forward: Option<Forward>,
    samples: Option<usize>,
    published: Mutex<Published>,
}

/// memscope, as a plugin under test sees it: a model (a forward function, or fixed
/// logits) and a record of what the plugin publishes. Hand it to [`TestPlugin::create`].
pub struct FakeHost {
    state: State,
}

impl Default for FakeHost {
    fn default() -> Self {
        FakeHost::new()
    }
}

impl FakeHost {
    /// A host without a model (a plugin that calls `forward` gets an error saying so),
    /// accepting arrays of any length.
    pub fn new() -> Self {
        FakeHost { state: State { forward: None, samples: None, published: Mutex::new(Published::default()) } }
    }

    /// The model: `forward(input)` gives the logits `[B, classes]` of an input batch.
    /// Autograd flows through it, so `Host::input_gradient` works too.
    pub fn forward(mut self, forward: impl Fn(&Tensor) -> Tensor + Send + Sync + 'static) -> Self {
        self.state.forward = Some(Box::new(forward));
        self
    }

    /// A model that answers `logits` (`[B, classes]`) whatever the input.
    pub fn logits(self, logits: Tensor) -> Self {
        let logits = Mutex::new(logits);
        self.forward(move |_| logits.lock().expect("fake logits").shallow_clone())
    }

    /// The number of training samples: published arrays must have as many values, as
    /// in a job.
    pub fn samples(mut self, samples: usize) -> Self {
        self.state.samples = Some(samples);
        self
    }
}

/// A plugin of type `P`, created and called through its descriptor as a job would,
/// with a [`FakeHost`].
pub struct TestPlugin<P: Plugin> {
    descriptor: &'static PluginDescriptor,
    instance: *mut c_void,
    // Boxed: the plugin holds pointers to both for as long as it lives.
    state: Box<State>,
    _api: Box<HostApiC>,
    _plugin: PhantomData<P>,
}

impl<P: Plugin> TestPlugin<P> {
    /// Creates the plugin from `settings`, the TOML text of its `config` table in a job.
    pub fn create(settings: &str, host: FakeHost) -> PluginResult<Self> {
        let descriptor = &descriptor_cell::<P>().0;
        let state = Box::new(host.state);
        let api = Box::new(HostApiC {
            ctx: &*state as *const State as *mut c_void,
            forward,
            log,
            publish_array,
            publish_metric,
            publish_comparison,
            write_file,
            input_gradient,
            parameter_gradient_norms,
            size: std::mem::size_of::<HostApiC>(),
            abi_version: ABI_VERSION,
        });
        let mut instance: *mut c_void = std::ptr::null_mut();
        // SAFETY: `P`'s own descriptor; the text and out-parameter live for the call,
        // and `api` (and the state it points to) as long as the instance.
        let (status, message) = with_sink(|err| unsafe { (descriptor.create)(StrRef::new(settings), &*api, &mut instance, err) });
        result("create", status, message)?;
        Ok(TestPlugin { descriptor, instance, state, _api: api, _plugin: PhantomData })
    }

    /// What the plugin published so far.
    pub fn published(&self) -> Published {
        self.state.published.lock().expect("published").clone()
    }

    /// Whether the plugin subscribes to `hook` (what a job would call).
    pub fn subscribes(&self, hook: Hook) -> bool {
        self.descriptor.hooks & hook.bit() != 0
    }

    /// Calls a hook through the descriptor, as the host does.
    fn call(&mut self, hook: &str, f: impl FnOnce(&PluginDescriptor, *mut c_void, *mut ErrorSink) -> Status) -> PluginResult {
        let (status, message) = with_sink(|err| f(self.descriptor, self.instance, err));
        result(hook, status, message)
    }

    /// `on_job_start`.
    pub fn job_start(&mut self, job: &JobInfo<'_>) -> PluginResult {
        let info = JobInfoC {
            run: StrRef::new(job.run),
            run_dir: StrRef::new(job.run_dir),
            samples: job.samples,
            classes: job.classes,
            epochs: job.epochs,
            seed: job.seed,
        };
        // SAFETY: `info` and its strings live on this frame for the call.
        self.call("on_job_start", |d, i, e| unsafe { (d.on_job_start)(i, &info, e) })
    }

    /// `on_dataset_ready`: the plugin may rewrite `labels`.
    pub fn dataset_ready(&mut self, labels: &mut [i64], classes: usize) -> PluginResult {
        let mut data = DatasetC { labels: labels.as_mut_ptr(), samples: labels.len(), classes };
        // SAFETY: `data` lends `labels` mutably to this one call.
        self.call("on_dataset_ready", |d, i, e| unsafe { (d.on_dataset_ready)(i, &mut data, e) })
    }

    /// `on_train_batch_end` with `batch`; its logits reach the plugin only when it
    /// subscribes to [`Hook::TrainBatchOutputs`], as in a job.
    pub fn train_batch_end(&mut self, batch: &BatchInfo<'_>) -> PluginResult {
        let logits: &[f32] = if self.subscribes(Hook::TrainBatchOutputs) { batch.logits } else { &[] };
        let c = BatchC {
            epoch: batch.epoch,
            step: batch.step,
            indices: batch.indices.as_ptr(),
            losses: batch.losses.as_ptr(),
            labels: batch.labels.as_ptr(),
            len: batch.indices.len(),
            logits: logits.as_ptr(),
            logits_len: logits.len(),
            classes: batch.classes,
        };
        // SAFETY: `c` points into the slices of `batch`, borrowed for the call.
        self.call("on_train_batch_end", |d, i, e| unsafe { (d.on_train_batch_end)(i, &c, e) })
    }

    /// `on_train_epoch_end`.
    pub fn train_epoch_end(&mut self, epoch: &EpochInfo) -> PluginResult {
        let c = EpochC { epoch: epoch.epoch, loss: epoch.loss, accuracy: epoch.accuracy };
        // SAFETY: plain data on this frame.
        self.call("on_train_epoch_end", |d, i, e| unsafe { (d.on_train_epoch_end)(i, &c, e) })
    }

    /// `save_state`: the bytes a checkpoint would store.
    pub fn save_state(&mut self) -> PluginResult<Vec<u8>> {
        unsafe extern "C" fn write(ctx: *mut c_void, data: *const u8, len: usize) {
            // SAFETY: ctx is the Vec below; the plugin lends `len` bytes for the call.
            unsafe { *(ctx as *mut Vec<u8>) = if len == 0 { Vec::new() } else { std::slice::from_raw_parts(data, len).to_vec() } }
        }
        let mut bytes: Vec<u8> = Vec::new();
        let mut sink = ByteSink { ctx: &mut bytes as *mut Vec<u8> as *mut c_void, write };
        // SAFETY: `sink` points to `bytes`, both alive for the call.
        self.call("save_state", |d, i, e| unsafe { (d.save_state)(i, &mut sink, e) })?;
        Ok(bytes)
    }

    /// `load_state` with bytes `save_state` returned (a resumed job's).
    pub fn load_state(&mut self, state: &[u8]) -> PluginResult {
        let c = BytesC { data: state.as_ptr(), len: state.len() };
        // SAFETY: `c` lends `state` for the call.
        self.call("load_state", |d, i, e| unsafe { (d.load_state)(i, &c, e) })
    }

    /// `score_batch` of the snapshot of 0-based `epoch`, for the batch whose first
    /// sample is `offset`: the scores, checked as memscope checks them (`float32 [B]`
    /// for the B rows of `images`, every value finite).
    pub fn score_batch(&mut self, epoch: usize, offset: usize, images: &Tensor, labels: &Tensor) -> PluginResult<Vec<f32>> {
        let batch = ScoreBatchC { epoch, offset };
        let (mut images, mut labels) = (images.shallow_clone(), labels.shallow_clone());
        let mut out: *mut C_tensor = std::ptr::null_mut();
        // SAFETY: the handles and `batch` live for the call; `out` receives a tensor
        // handed over for good.
        self.call("score_batch", |d, i, e| unsafe { (d.score_batch)(i, &batch, images.as_mut_ptr(), labels.as_mut_ptr(), &mut out, e) })?;
        if out.is_null() {
            return Err(PluginError("score_batch returned no tensor".into()));
        }
        // SAFETY: on success the plugin handed over ownership of a fresh handle.
        let scores = unsafe { Tensor::from_ptr(out) };
        let rows = images.size().first().copied().unwrap_or(0);
        if scores.kind() != Kind::Float || scores.size() != [rows] {
            return Err(PluginError(format!(
                "score_batch returned {:?} {:?}; scores must be float32 [{rows}]",
                scores.kind(),
                scores.size()
            )));
        }
        let values = Vec::<f32>::try_from(&scores.to_device(tch::Device::Cpu))?;
        match values.iter().position(|v| !v.is_finite()) {
            Some(i) => Err(PluginError(format!("score_batch returned {} for row {i}; scores must be finite", values[i]))),
            None => Ok(values),
        }
    }

    /// `on_scores`: a scorer's values for the snapshot of `epoch`.
    pub fn scores(&mut self, epoch: usize, scores: &NamedArray<'_>) -> PluginResult {
        let c = ScoresC { epoch, array: array_c(scores), direction: scores.direction.code() };
        // SAFETY: `c` points into `scores`, borrowed for the call.
        self.call("on_scores", |d, i, e| unsafe { (d.on_scores)(i, &c, e) })
    }

    /// `on_job_end` with the final arrays (scores, masks, labels).
    pub fn job_end(&mut self, ok: bool, arrays: &[NamedArray<'_>]) -> PluginResult {
        let raw: Vec<ArrayC> = arrays.iter().map(array_c).collect();
        let directions: Vec<DirectionCode> = arrays.iter().map(|a| a.direction.code()).collect();
        let c = JobEndC { ok, arrays: raw.as_ptr(), len: raw.len(), directions: directions.as_ptr() };
        // SAFETY: `c` points into `raw` and `directions`, which point into `arrays`.
        self.call("on_job_end", |d, i, e| unsafe { (d.on_job_end)(i, &c, e) })
    }
}

impl<P: Plugin> Drop for TestPlugin<P> {
    fn drop(&mut self) {
        // SAFETY: created by this descriptor's `create`, destroyed once.
        unsafe { (self.descriptor.destroy)(self.instance) }
    }
}

/// A hook's status as a result, as the host reports it.
fn result(hook: &str, status: Status, message: Option<String>) -> PluginResult {
    let message = message.unwrap_or_else(|| "no message".into());
    match status {
        Status::Ok => Ok(()),
        Status::Error => Err(PluginError(message)),
        Status::Panic => Err(PluginError(format!("panicked in {hook}: {message}"))),
    }
}

fn array_c(a: &NamedArray<'_>) -> ArrayC {
    ArrayC { name: StrRef::new(a.name), kind: a.kind.code(), values: a.values.as_ptr(), len: a.values.len() }
}

/// The state behind a callback's `ctx`.
///
/// # Safety
/// `ctx` must be the `State` a [`TestPlugin`] put in its table, which it keeps alive for
/// as long as the plugin instance.
unsafe fn state<'a>(ctx: *mut c_void) -> &'a State {
    // SAFETY: as the caller promises.
    unsafe { &*(ctx as *const State) }
}

/// Runs a callback body, a failure (or a panic of the test's own closure) written to
/// the plugin's error sink.
fn guarded(err: *mut ErrorSink, f: impl FnOnce() -> Result<(), String>) -> Status {
    let message = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => return Status::Ok,
        Ok(Err(message)) => message,
        Err(_) => "the fake host's forward function panicked".to_string(),
    };
    if !err.is_null() {
        // SAFETY: the SDK passes a valid sink for the call.
        unsafe { ((*err).write)((*err).ctx, StrRef::new(&message)) };
    }
    Status::Error
}

/// A tensor handed to the plugin for good.
fn hand_over(mut tensor: Tensor, out: *mut *mut C_tensor) -> Result<(), String> {
    if out.is_null() {
        return Err("a null out-parameter".into());
    }
    // SAFETY: the SDK's out-parameter, valid for one write.
    unsafe { *out = tensor.as_mut_ptr() };
    std::mem::forget(tensor);
    Ok(())
}

/// The logits of the fake model for `input`.
fn logits_of(state: &State, input: &Tensor) -> Result<Tensor, String> {
    let forward = state.forward.as_ref().ok_or("this FakeHost has no model: give it one with `forward` or `logits`")?;
    Ok(forward(input))
}

/// # Safety
/// Called by the SDK's `Host` only: `ctx` from [`TestPlugin::create`], handles alive for
/// the call, `out` and `err` valid for one write. The other callbacks follow the same rule.
unsafe extern "C" fn forward(ctx: *mut c_void, input: *mut C_tensor, out: *mut *mut C_tensor, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        // SAFETY: a live handle the plugin lends for the call; `ctx` as promised.
        let (state, input) = unsafe { (state(ctx), Tensor::clone_from_ptr(input)) };
        hand_over(logits_of(state, &input)?, out)
    })
}

/// # Safety
/// As [`forward`].
unsafe extern "C" fn input_gradient(
    ctx: *mut c_void,
    input: *mut C_tensor,
    labels: *mut C_tensor,
    out: *mut *mut C_tensor,
    err: *mut ErrorSink,
) -> Status {
    guarded(err, || {
        // SAFETY: live handles the plugin lends for the call; `ctx` as promised.
        let (state, input, labels) = unsafe { (state(ctx), Tensor::clone_from_ptr(input), Tensor::clone_from_ptr(labels)) };
        // Gradients even when the plugin calls this under `no_grad`, as the host's do.
        let grad = tch::with_grad(|| -> Result<Tensor, String> {
            let x = input.detach().set_requires_grad(true);
            let loss = logits_of(state, &x)?.cross_entropy_loss::<Tensor>(&labels, None, Reduction::Sum, -100, 0.0);
            Tensor::run_backward(&[loss], &[&x], false, false).pop().ok_or_else(|| "no gradient".to_string())
        })?;
        hand_over(grad, out)
    })
}

/// # Safety
/// As [`forward`].
unsafe extern "C" fn parameter_gradient_norms(
    _ctx: *mut c_void,
    _input: *mut C_tensor,
    _labels: *mut C_tensor,
    _out: *mut *mut C_tensor,
    err: *mut ErrorSink,
) -> Status {
    guarded(err, || Err("the fake host's model has no parameters: parameter_gradient_norms needs a job".into()))
}

/// # Safety
/// As [`forward`].
unsafe extern "C" fn log(ctx: *mut c_void, level: u32, message: StrRef) {
    let level = match level {
        0 => Level::Error,
        1 => Level::Warn,
        2 => Level::Info,
        _ => Level::Debug,
    };
    // SAFETY: `ctx` as promised; the message is lent for the call.
    let (state, message) = unsafe { (state(ctx), message.as_str().to_string()) };
    state.published.lock().expect("published").logs.push((level, message));
}

/// # Safety
/// As [`forward`].
unsafe extern "C" fn publish_array(ctx: *mut c_void, array: *const ArrayC, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        // SAFETY: `ctx` as promised; the SDK builds the array on its stack for the call,
        // its name and values lent for the call.
        let (state, name, kind, values) = unsafe {
            let a = &*array;
            let values = if a.len == 0 { &[][..] } else { std::slice::from_raw_parts(a.values, a.len) };
            (state(ctx), a.name.as_str().to_string(), a.kind, values.to_vec())
        };
        if let Some(samples) = state.samples.filter(|n| *n != values.len()) {
            return Err(format!("array `{name}` has {} values for {samples} samples", values.len()));
        }
        if values.iter().any(|v| v.is_nan()) {
            return Err(format!("array `{name}` holds NaN"));
        }
        let kind = ArrayKind::from_code(kind).ok_or_else(|| format!("array `{name}` has unknown kind {kind}"))?;
        state.published.lock().expect("published").arrays.push((name, kind, values));
        Ok(())
    })
}

/// # Safety
/// As [`forward`].
unsafe extern "C" fn publish_metric(ctx: *mut c_void, name: StrRef, value: f64) {
    // SAFETY: `ctx` as promised; the name is lent for the call.
    let (state, name) = unsafe { (state(ctx), name.as_str().to_string()) };
    state.published.lock().expect("published").metrics.push((name, value));
}

/// # Safety
/// As [`forward`].
unsafe extern "C" fn publish_comparison(
    ctx: *mut c_void,
    score: StrRef,
    against: StrRef,
    metrics: *const MetricC,
    len: usize,
    err: *mut ErrorSink,
) -> Status {
    guarded(err, || {
        // SAFETY: `ctx` as promised; the strings and `len` metrics are lent for the call.
        let (state, score, against, metrics) = unsafe {
            let raw = if len == 0 { &[][..] } else { std::slice::from_raw_parts(metrics, len) };
            let named = raw.iter().map(|m| (m.name.as_str().to_string(), m.value)).collect::<Vec<_>>();
            (state(ctx), score.as_str().to_string(), against.as_str().to_string(), named)
        };
        state.published.lock().expect("published").comparisons.push(Comparison { score, against, metrics });
        Ok(())
    })
}

/// # Safety
/// As [`forward`].
unsafe extern "C" fn write_file(ctx: *mut c_void, path: StrRef, data: *const u8, len: usize, err: *mut ErrorSink) -> Status {
    guarded(err, || {
        // SAFETY: `ctx` as promised; the path and `len` bytes are lent for the call.
        let (state, path, bytes) = unsafe {
            let bytes = if len == 0 { &[][..] } else { std::slice::from_raw_parts(data, len) };
            (state(ctx), path.as_str().to_string(), bytes.to_vec())
        };
        state.published.lock().expect("published").files.push((path, bytes));
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Host, ScoreBatch, ScoreSpec};

    /// Counts each sample's correct presentations, publishes them at the end, and logs.
    #[derive(Default)]
    struct Counter {
        correct: Vec<i64>,
    }

    impl Plugin for Counter {
        fn name() -> &'static str {
            "counter"
        }
        fn hooks() -> &'static [Hook] {
            &[Hook::OnJobStart, Hook::TrainBatchOutputs, Hook::SaveState, Hook::LoadState, Hook::ScoreBatch, Hook::OnJobEnd]
        }
        fn scores() -> Vec<ScoreSpec> {
            vec![ScoreSpec::higher("counter"), ScoreSpec::lower("correct")]
        }
        fn create(config: &str, _host: &Host) -> PluginResult<Self> {
            if config.contains("boom") {
                panic!("told to panic");
            }
            Ok(Counter::default())
        }
        fn on_job_start(&mut self, _host: &Host, job: &JobInfo<'_>) -> PluginResult {
            self.correct = vec![0; job.samples];
            Ok(())
        }
        fn on_train_batch_end(&mut self, _host: &Host, batch: &BatchInfo<'_>) -> PluginResult {
            for (row, &i) in batch.indices.iter().enumerate() {
                self.correct[i as usize] += batch.correct(row) as i64;
            }
            Ok(())
        }
        fn save_state(&mut self, _host: &Host) -> PluginResult<Vec<u8>> {
            let mut state = crate::state::State::new();
            state.put_i64("correct", &self.correct);
            Ok(state.to_bytes())
        }
        fn load_state(&mut self, _host: &Host, state: &[u8]) -> PluginResult {
            self.correct = crate::state::State::from_bytes(state)?.i64("correct")?.to_vec();
            Ok(())
        }
        fn score_batch(&mut self, host: &Host, _batch: &ScoreBatch, images: &Tensor, labels: &Tensor) -> PluginResult<Tensor> {
            Ok(host.input_gradient(images, labels)?.abs().sum_dim_intlist(&[1i64][..], false, Kind::Float))
        }
        fn on_job_end(&mut self, host: &Host, _ok: bool, _arrays: &[NamedArray<'_>]) -> PluginResult {
            host.log(Level::Info, "done");
            let values: Vec<f32> = self.correct.iter().map(|&c| c as f32).collect();
            host.publish_array("correct", ArrayKind::Score, &values)
        }
    }

    fn job(samples: usize) -> JobInfo<'static> {
        JobInfo { run: "t", run_dir: "", samples, classes: 2, epochs: 1, seed: 0 }
    }

    #[test]
    fn the_fake_host_drives_training_hooks_state_scoring_and_the_end() {
        let host = FakeHost::new().samples(3).forward(|x| x * 2.0);
        let mut plugin = TestPlugin::<Counter>::create("", host).unwrap();
        plugin.job_start(&job(3)).unwrap();
        // Row 0 (sample 2): logits (1, 3), label 1: correct; row 1 (sample 0): wrong.
        let batch = BatchInfo {
            epoch: 0,
            step: 0,
            indices: &[2, 0],
            losses: &[0.1, 0.2],
            labels: &[1, 1],
            logits: &[1.0, 3.0, 4.0, 0.0],
            classes: 2,
        };
        plugin.train_batch_end(&batch).unwrap();
        let saved = plugin.save_state().unwrap();
        plugin.train_batch_end(&batch).unwrap();
        plugin.load_state(&saved).unwrap();
        // d/dx of CE(2x, y) summed: the fake host differentiates its forward function.
        let x = Tensor::from_slice(&[0.0f32, 0.0]).view([1, 2]);
        let scores = plugin.score_batch(0, 0, &x, &Tensor::from_slice(&[0i64])).unwrap();
        assert!((scores[0] - 2.0).abs() < 1e-6, "{scores:?}");
        plugin.job_end(true, &[]).unwrap();
        let published = plugin.published();
        assert_eq!(published.array("correct"), Some(&[0.0f32, 0.0, 1.0][..]), "as saved, before the second batch");
        assert_eq!(published.logs, vec![(Level::Info, "done".to_string())]);
    }

    #[test]
    fn errors_panics_and_broken_scores_come_back_as_a_job_would_report_them() {
        let err = TestPlugin::<Counter>::create("boom = 1", FakeHost::new()).err().unwrap();
        assert!(err.0.starts_with("panicked in create: told to panic"), "{err}");
        let mut plugin = TestPlugin::<Counter>::create("", FakeHost::new()).unwrap();
        let err =
            plugin.score_batch(0, 0, &Tensor::zeros([1, 2], (Kind::Float, tch::Device::Cpu)), &Tensor::from_slice(&[0i64])).unwrap_err();
        assert!(err.0.contains("has no model"), "{err}");
        let mut plugin = TestPlugin::<Counter>::create("", FakeHost::new().samples(5)).unwrap();
        plugin.job_start(&job(3)).unwrap();
        let err = plugin.job_end(true, &[]).unwrap_err();
        assert_eq!(err.0, "array `correct` has 3 values for 5 samples");
        assert!(plugin.subscribes(Hook::OnTrainBatchEnd), "TrainBatchOutputs brings on_train_batch_end");
    }
}
