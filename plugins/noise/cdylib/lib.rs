//! Exports the `noise` plugin (`memscope-plugin-noise`, one folder up) as a library
//! memscope loads by name. The plugin type lives in a library crate of its own, without
//! the export, so that a program can link it (and other plugins) and run it in its own
//! process: two libraries exporting the plugin symbols cannot be linked into one program.

memscope_sdk::export_plugin!(plugin::Noise);
