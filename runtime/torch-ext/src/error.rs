//! Errors of the shim.

/// Why a call into libtorch through the shim failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtError {
    /// libtorch raised an error.
    #[error("{call}: {message}")]
    Torch {
        /// What was being done (`load`, `forward`, ...).
        call: &'static str,
        /// The cause on one line: for an error in the TorchScript interpreter, the
        /// exception it ends with (`RuntimeError: mat1 and mat2 shapes cannot be
        /// multiplied (2x64 and 128x10)`), else the first line.
        message: String,
        /// libtorch's whole message (the TorchScript traceback, for instance).
        detail: String,
    },
    /// A path cannot be handed to libtorch (it holds a NUL byte).
    #[error("{0}: a path with a NUL byte cannot be opened")]
    Path(String),
}

impl ExtError {
    /// The one-line cause, without the call's name.
    pub fn message(&self) -> String {
        match self {
            ExtError::Torch { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    pub(crate) fn torch(call: &'static str, detail: String) -> ExtError {
        ExtError::Torch { call, message: one_line(&detail), detail }
    }
}

/// The line of a libtorch message a user needs: TorchScript's interpreter prints a
/// traceback of its serialized code and ends with the Python-style exception line.
fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let exception = lines.iter().rev().find(|l| {
        l.split_once(": ").is_some_and(|(name, _)| name.ends_with("Error") && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'))
    });
    exception.or(lines.first()).map(|l| l.to_string()).unwrap_or_else(|| "failed without a message".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpreter_errors_are_summarized_by_their_exception_line() {
        let text = "The following operation failed in the TorchScript interpreter.\n\
                    Traceback of TorchScript, serialized code (most recent call last):\n  \
                    File \"code/__torch__.py\", line 10, in forward\n    x = self.fc(x)\n\
                    RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x64 and 128x10)\n";
        assert_eq!(one_line(text), "RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x64 and 128x10)");
        assert_eq!(one_line("PytorchStreamReader failed: no zip\n  more"), "PytorchStreamReader failed: no zip");
    }
}
