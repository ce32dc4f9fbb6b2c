//! libtorch's profiler (Kineto, as `torch.profiler.profile`) around a stretch of work on
//! one thread, saved as a Chrome trace: which operators, and on CUDA which kernels, the
//! time goes to (see `csrc/profiler.cpp`).

use crate::{ffi, ExtError};
use std::ffi::CString;
use std::path::Path;

/// A running profile of the calling thread; [`Profile::save`] ends it. Dropping it
/// unsaved leaves libtorch's profiler on until the thread's next profile.
#[derive(Debug)]
#[must_use = "a profile is only kept by `save`"]
pub struct Profile {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Profile {
    /// Starts profiling the operators the calling thread runs, and with `cuda` the CUDA
    /// kernels they launch.
    pub fn start(cuda: bool) -> Result<Profile, ExtError> {
        // SAFETY: the shim turns libtorch's profiler on; `error` is an out-parameter.
        ffi::call("profiler", |error| unsafe { ffi::mste_profiler_start(cuda, error) })?;
        Ok(Profile { _not_send: std::marker::PhantomData })
    }

    /// Stops the profile and writes its Chrome trace (JSON) to `path`; returns the number
    /// of events recorded.
    pub fn save(self, path: &Path) -> Result<usize, ExtError> {
        let path = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| ExtError::torch("profiler", "the trace's path holds a NUL byte".into()))?;
        let mut events: std::ffi::c_long = 0;
        // SAFETY: `path` lives through the call; `events` is an out-parameter.
        ffi::call("profiler", |error| unsafe { ffi::mste_profiler_stop(path.as_ptr(), &mut events, error) })?;
        Ok(events.max(0) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A convolution and its backward, profiled: the trace names their operators.
    #[test]
    fn a_profile_saves_a_chrome_trace_of_the_operators_run() {
        let dir = tempfile::tempdir().unwrap();
        let trace = dir.path().join("trace.json");
        let profile = Profile::start(false).unwrap();
        let x = tch::Tensor::randn([2, 1, 8, 8], (tch::Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        let w = tch::Tensor::randn([4, 1, 3, 3], (tch::Kind::Float, tch::Device::Cpu));
        x.conv2d(&w, None::<tch::Tensor>, [1], [1], [1], 1).sum(tch::Kind::Float).backward();
        let events = profile.save(&trace).unwrap();
        assert!(events > 0);
        let text = std::fs::read_to_string(&trace).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let names: Vec<&str> = json["traceEvents"].as_array().unwrap().iter().filter_map(|e| e["name"].as_str()).collect();
        assert!(names.contains(&"aten::conv2d"), "{:?}", &names[..names.len().min(20)]);
        assert!(names.iter().any(|n| n.contains("ConvolutionBackward")), "no backward in the trace");
    }
}
