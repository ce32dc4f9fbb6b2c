//! The memscope SDK: what a plugin author needs and nothing else.
//!
//! This crate holds the vocabulary shared by the runtime that hosts plugins and the
//! plugins themselves: the names of the training hooks a plugin may subscribe to and
//! the versions checked in the handshake. It performs no I/O.
#![warn(missing_docs)]

mod hook;
mod version;

pub use hook::Hook;
pub use version::{ABI_VERSION, SDK_VERSION, TORCH_VERSION};
