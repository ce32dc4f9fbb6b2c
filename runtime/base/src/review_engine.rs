//! What the daemon and its review engine agree on. The review page reads a run's
//! dataset (its thumbnails) through the core library, which links libtorch, so the
//! daemon does not serve it itself: a `memscope-engine serve-review` process does,
//! and the daemon forwards `/v1/jobs/{id}/review/...` to it unchanged, naming the
//! job's run directory in [`RUN_HEADER`] and proving itself with [`SECRET_HEADER`].
//! The engine gets its secret as the first line of its standard input, prints
//! [`READY`] and its address on standard output, and ends when its standard input
//! closes.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The review's path under the daemon, `{id}` the job; the engine serves the same
/// paths, so that redirects, errors and relative links are the daemon's own.
pub const REVIEW_PATH: &str = "/v1/jobs/{id}/review";

/// The header carrying the engine's secret: a request without it is refused, so that
/// other local users cannot reach the runs through the engine's loopback port.
pub const SECRET_HEADER: &str = "x-memscope-review-secret";

/// The header naming the run directory of a request, as [`encode_path`] writes it.
pub const RUN_HEADER: &str = "x-memscope-run";

/// What the engine's one line on standard output starts with, before its address.
pub const READY: &str = "listening on ";

/// Whether `rest` (a path after the review's prefix) is a file of the page rather
/// than of its API: the same bytes for every run, holding no run data. The daemon
/// lets a browser load these without the bearer token (a browser cannot put a header
/// on a link it follows), and forwards them without naming a run.
pub fn is_page_file(rest: &str) -> bool {
    matches!(rest, "" | "/" | "/app.js" | "/style.css")
}

/// `path` as a header value: bytes other than ASCII letters, digits and `/._-` as
/// `%XX`, so that any file name (spaces, UTF-8, other bytes) crosses unchanged.
pub fn encode_path(path: &Path) -> String {
    let mut text = String::new();
    for &byte in path.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"/._-".contains(&byte) {
            text.push(byte as char);
        } else {
            text.push_str(&format!("%{byte:02X}"));
        }
    }
    text
}

/// The path [`encode_path`] wrote; `None` for text it cannot have written.
pub fn decode_path(text: &str) -> Option<PathBuf> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, after)) = rest.split_first() {
        if byte == b'%' {
            let hex = std::str::from_utf8(after.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &after[2..];
        } else {
            bytes.push(byte);
            rest = after;
        }
    }
    Some(PathBuf::from(OsStr::from_bytes(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_path_crosses_a_header_unchanged() {
        let odd = PathBuf::from(OsStr::from_bytes(b"/srv/runs/caf\xc3\xa9 run%20-000001/\xff\n"));
        for path in [Path::new("/srv/state/runs/digits-000001"), Path::new("/a b/c:d"), odd.as_path()] {
            let text = encode_path(path);
            assert!(text.bytes().all(|b| b.is_ascii_graphic()), "{text}");
            assert_eq!(decode_path(&text).as_deref(), Some(path), "{text}");
        }
        assert_eq!(decode_path("/a%2"), None);
        assert_eq!(decode_path("/a%zz"), None);
    }

    #[test]
    fn only_the_page_files_are_page_files() {
        for rest in ["", "/", "/app.js", "/style.css"] {
            assert!(is_page_file(rest), "{rest}");
        }
        for rest in ["/api/run", "/api/samples/1/image.png", "/app.js/x", "er", "/index.html"] {
            assert!(!is_page_file(rest), "{rest}");
        }
    }
}
