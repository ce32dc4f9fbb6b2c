//! A TorchScript module held through the shim.

use crate::ffi::{self, call};
use crate::ExtError;
use std::ffi::{c_char, c_void, CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::NonNull;
use tch::{Device, Tensor};
use torch_sys::C_tensor;

/// A TorchScript module loaded for training.
///
/// Its parameters and buffers come back as handles on the module's own tensors:
/// `set_data` on a parameter (as the optimizer's flat buffer does), an in-place update
/// or a `copy_` into a buffer changes what `forward` computes.
///
/// The module is `Send` but not `Sync`: [`ScriptModule::set_train`] changes it
/// through a shared reference.
#[derive(Debug)]
pub struct ScriptModule {
    raw: NonNull<ffi::Module>,
}

// SAFETY: the module is owned by this value alone; libtorch modules may be used from
// any thread as long as two threads do not use one at once, which `!Sync` ensures.
unsafe impl Send for ScriptModule {}

/// tch's device numbering (`Device::c_int` is private to tch).
fn device_number(device: Device) -> i32 {
    match device {
        Device::Cpu => -1,
        Device::Cuda(i) => i as i32,
        Device::Mps => -2,
        // The shim has no Vulkan build; libtorch names the problem when loading.
        Device::Vulkan => -3,
    }
}

/// Collects named tensors handed over by `mste_script_named_tensors`.
unsafe extern "C" fn collect(ctx: *mut c_void, name: *const c_char, tensor: *mut C_tensor) {
    // SAFETY: `ctx` is the `Vec` that `named_tensors` passes for this call only;
    // `name` is a NUL-terminated string valid during the call; `tensor` is a new
    // handle that we now own.
    unsafe {
        let out = &mut *(ctx as *mut Vec<(String, Tensor)>);
        let name = CStr::from_ptr(name).to_string_lossy().into_owned();
        out.push((name, Tensor::from_ptr(tensor)));
    }
}

impl ScriptModule {
    /// Loads the module saved at `path` (by `torch.jit.script(model).save(path)` or
    /// `torch.jit.save`) with its tensors on `device`.
    pub fn load(path: &Path, device: Device) -> Result<ScriptModule, ExtError> {
        let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| ExtError::Path(path.display().to_string()))?;
        let mut raw: *mut ffi::Module = std::ptr::null_mut();
        // SAFETY: `c_path` lives through the call; `raw` is an out-parameter.
        call("load", |error| unsafe { ffi::mste_script_load(c_path.as_ptr(), device_number(device), &mut raw, error) })?;
        let raw = NonNull::new(raw).ok_or_else(|| ExtError::torch("load", "no module returned".into()))?;
        Ok(ScriptModule { raw })
    }

    /// `forward(input)`, which must return one tensor. Runs in the module's current
    /// mode (see [`ScriptModule::set_train`]) and under the calling thread's grad mode.
    pub fn forward(&self, input: &Tensor) -> Result<Tensor, ExtError> {
        let mut out: *mut C_tensor = std::ptr::null_mut();
        // SAFETY: the module is alive; `input` is a valid handle borrowed for the call;
        // `out` receives a new handle on success.
        call("forward", |error| unsafe { ffi::mste_script_forward(self.raw.as_ptr(), input.as_ptr(), &mut out, error) })?;
        if out.is_null() {
            return Err(ExtError::torch("forward", "no tensor returned".into()));
        }
        // SAFETY: the shim handed over a new handle that nobody else owns.
        Ok(unsafe { Tensor::from_ptr(out) })
    }

    /// Training (`true`: dropout active, BatchNorm uses and updates batch statistics)
    /// or eval mode, for the module and every submodule.
    pub fn set_train(&self, on: bool) -> Result<(), ExtError> {
        // SAFETY: the module is alive and, the type being `!Sync`, used by this thread only.
        call("train", |error| unsafe { ffi::mste_script_train(self.raw.as_ptr(), on, error) })
    }

    /// Every parameter, in registration order, with dotted names (`layer1.0.conv1.weight`).
    pub fn named_parameters(&self) -> Result<Vec<(String, Tensor)>, ExtError> {
        self.named_tensors(false)
    }

    /// Every buffer (e.g. `bn.running_mean`, `bn.num_batches_tracked`), in
    /// registration order, with dotted names.
    pub fn named_buffers(&self) -> Result<Vec<(String, Tensor)>, ExtError> {
        self.named_tensors(true)
    }

    fn named_tensors(&self, buffers: bool) -> Result<Vec<(String, Tensor)>, ExtError> {
        let mut out: Vec<(String, Tensor)> = Vec::new();
        let what = if buffers { "named_buffers" } else { "named_parameters" };
        let ctx = &mut out as *mut Vec<(String, Tensor)> as *mut c_void;
        // SAFETY: the module is alive; `collect` matches the callback type and `ctx`
        // points to `out`, which outlives the call.
        call(what, |error| unsafe { ffi::mste_script_named_tensors(self.raw.as_ptr(), buffers, ctx, collect, error) })?;
        Ok(out)
    }
}

impl Drop for ScriptModule {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `mste_script_load` and is freed once, here.
        unsafe { ffi::mste_script_free(self.raw.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;
    use tch::Kind;

    /// Saves `torch.jit.script(Net())` of the python class `Net` (defined by `source`)
    /// with the project venv's torch; `None` (with the reason printed) when that
    /// python has no torch.
    fn scripted(dir: &Path, source: &str) -> Option<PathBuf> {
        let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
        if !Command::new(&python).args(["-c", "import torch"]).status().is_ok_and(|s| s.success()) {
            eprintln!("skipped: {} cannot import torch", python.display());
            return None;
        }
        // torch.jit.script reads the class's source, so it must come from a file.
        let (script, path) = (dir.join("make_net.py"), dir.join("net.pt"));
        std::fs::write(&script, format!("import sys, torch\ntorch.manual_seed(0)\n{source}\ntorch.jit.script(Net()).save(sys.argv[1])\n"))
            .unwrap();
        let status = Command::new(&python).arg(&script).arg(&path).status().unwrap();
        assert!(status.success(), "python failed to script the module");
        Some(path)
    }

    const BN_NET: &str = "
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)
        self.bn = torch.nn.BatchNorm1d(3)
        self.drop = torch.nn.Dropout(0.5)
    def forward(self, x):
        return self.drop(self.bn(self.fc(x)))
";

    fn names(tensors: &[(String, Tensor)]) -> Vec<&str> {
        tensors.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn parameters_and_buffers_come_by_name_in_registration_order() {
        let dir = tempfile::tempdir().unwrap();
        let Some(path) = scripted(dir.path(), BN_NET) else { return };
        let module = ScriptModule::load(&path, Device::Cpu).unwrap();
        assert_eq!(names(&module.named_parameters().unwrap()), ["fc.weight", "fc.bias", "bn.weight", "bn.bias"]);
        assert_eq!(names(&module.named_buffers().unwrap()), ["bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]);
    }

    /// Training mode updates BatchNorm's running statistics and drops out; eval mode
    /// does neither: the flag reaches the submodules.
    #[test]
    fn the_train_flag_switches_batch_norm_and_dropout() {
        let dir = tempfile::tempdir().unwrap();
        let Some(path) = scripted(dir.path(), BN_NET) else { return };
        let module = ScriptModule::load(&path, Device::Cpu).unwrap();
        let x = Tensor::randn([8, 4], (Kind::Float, Device::Cpu));
        let tracked = |m: &ScriptModule| m.named_buffers().unwrap()[2].1.int64_value(&[]);

        module.set_train(false).unwrap();
        let a = module.forward(&x).unwrap();
        assert!(a.equal(&module.forward(&x).unwrap()), "eval mode is deterministic");
        assert_eq!(tracked(&module), 0);

        module.set_train(true).unwrap();
        let b = module.forward(&x).unwrap();
        assert_eq!(tracked(&module), 1, "a training forward updates the running statistics");
        let dropped = b.eq(0.0).sum(Kind::Int64).int64_value(&[]);
        assert!(dropped > 0, "dropout zeroes some outputs in training mode");
    }

    /// What the optimizer and checkpoints do to the handles reaches the module itself:
    /// `set_data` on a parameter, `copy_` into a buffer.
    #[test]
    fn handles_share_the_modules_own_tensors() {
        let dir = tempfile::tempdir().unwrap();
        let Some(path) = scripted(dir.path(), BN_NET) else { return };
        let module = ScriptModule::load(&path, Device::Cpu).unwrap();
        module.set_train(false).unwrap();
        let x = Tensor::randn([5, 4], (Kind::Float, Device::Cpu));

        let params = module.named_parameters().unwrap();
        let (mut weight, mut bias) = (params[0].1.shallow_clone(), params[1].1.shallow_clone());
        let storage = Tensor::zeros([15], (Kind::Float, Device::Cpu));
        tch::no_grad(|| {
            weight.set_data(&storage.narrow(0, 0, 12).view([3, 4]));
            bias.set_data(&storage.narrow(0, 12, 3));
        });
        let _ = tch::no_grad(|| storage.shallow_clone().fill_(0.5));
        let again = module.named_parameters().unwrap();
        assert_eq!(again[0].1.data_ptr(), storage.data_ptr(), "the module's weight is now a view of the buffer");
        // fc(x) = 0.5 * sum(x) + 0.5 per output; BatchNorm in eval with fresh statistics
        // divides by sqrt(1 + eps): the module computes with the new values.
        let expected = (x.sum_dim_intlist(1, true, Kind::Float) * 0.5 + 0.5).expand([5, 3], false) / (1.0f64 + 1e-5).sqrt();
        assert!(module.forward(&x).unwrap().allclose(&expected, 1e-5, 1e-6, false));

        let buffers = module.named_buffers().unwrap();
        tch::no_grad(|| buffers[0].1.shallow_clone().copy_(&Tensor::from_slice(&[1.0f32, 2.0, 3.0])));
        let mean = &module.named_buffers().unwrap()[0].1;
        assert_eq!(Vec::<f32>::try_from(mean).unwrap(), [1.0, 2.0, 3.0]);
    }

    #[test]
    fn what_is_not_a_module_or_not_a_tensor_function_is_an_error_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.pt");
        std::fs::write(&text, "not a model").unwrap();
        let err = ScriptModule::load(&text, Device::Cpu).unwrap_err();
        assert!(matches!(err, ExtError::Torch { call: "load", .. }), "{err}");

        let tuple = "
class Net(torch.nn.Module):
    def forward(self, x):
        return x, x
";
        let Some(path) = scripted(dir.path(), tuple) else { return };
        let module = ScriptModule::load(&path, Device::Cpu).unwrap();
        let err = module.forward(&Tensor::zeros([1], (Kind::Float, Device::Cpu))).unwrap_err().to_string();
        assert!(err.contains("forward returned a Tuple, not a tensor"), "{err}");
    }
}
