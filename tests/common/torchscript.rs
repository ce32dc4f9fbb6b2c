//! TorchScript models for the tests, scripted by the project venv's torch (what a user
//! does with `torch.jit.script(model).save("net.pt")`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The project venv's python (`<repo>/.venv/bin/python`, where `make setup` installs
/// torch and numpy: `make test` always has them). A venv without them fails the test
/// rather than skipping it, so that a broken setup cannot pass for a tested one.
pub fn torch_python() -> PathBuf {
    let python = super::repo_root().join(".venv/bin/python");
    let works = Command::new(&python).args(["-c", "import torch, numpy"]).output().is_ok_and(|o| o.status.success());
    assert!(works, "{} cannot import torch and numpy: run `make setup` (or `make test`)", python.display());
    python
}

/// Runs `source`, python that defines a module `net`, and saves
/// `torch.jit.script(net)` as `dir/<name>.pt`. With `weights`, an `.npz` of named
/// arrays (e.g. written by `tch::Tensor::write_npz`), `net` first loads them as its
/// state dict (strictly: every name must match). Returns the file.
pub fn script_model(dir: &Path, name: &str, source: &str, weights: Option<&Path>) -> PathBuf {
    let python = torch_python();
    // torch.jit.script reads the classes' source, so the script must be a file.
    let script = dir.join(format!("{name}.py"));
    let out = dir.join(format!("{name}.pt"));
    let text = format!(
        "import sys\nimport numpy as np\nimport torch\ntorch.manual_seed(0)\n\n{source}\n\n\
         if len(sys.argv) > 2:\n    \
             arrays = np.load(sys.argv[2])\n    \
             net.load_state_dict({{k: torch.from_numpy(arrays[k]) for k in arrays.files}}, strict=True)\n\
         torch.jit.script(net).save(sys.argv[1])\n"
    );
    std::fs::write(&script, text).unwrap();
    let mut command = Command::new(python);
    command.arg(&script).arg(&out);
    if let Some(weights) = weights {
        command.arg(weights);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "scripting {name} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    out
}

/// The built-in `cnn` as a PyTorch module with the built-in's variable names:
/// conv3x3(32)-ReLU-conv3x3(64)-maxpool2-ReLU-flatten-fc(128)-ReLU-fc(classes) (the
/// zoo pools before the second ReLU: the same function). Defines `net` for 8x8
/// greyscale digits and 10 classes.
pub const CNN_TWIN: &str = "
class Cnn(torch.nn.Module):
    def __init__(self, channels: int, side: int, classes: int):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(channels, 32, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = torch.nn.Linear(64 * (side // 2) * (side // 2), 128)
        self.fc2 = torch.nn.Linear(128, classes)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(torch.max_pool2d(self.conv2(x), 2))
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)

net = Cnn(1, 8, 10)
";
