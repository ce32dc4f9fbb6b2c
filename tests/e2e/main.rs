//! End-to-end tests: the real `memscope` binary on datasets from the repo or written
//! by the tests. One test binary (linking libtorch once), one module per feature.

mod test_bad_input;
mod test_configs;
mod test_corrections;
mod test_crates;
mod test_daemon;
mod test_daemon_faults;
mod test_daemon_gpus;
mod test_daemon_http;
mod test_dashboard;
mod test_datasets;
mod test_distributed;
mod test_embed_crate;
mod test_estimate;
mod test_images;
mod test_library;
mod test_mask_reference;
mod test_metrics;
mod test_plugin_discovery;
mod test_plugin_install;
mod test_plugin_state;
mod test_plugin_suite;
mod test_plugin_template;
mod test_plugins;
mod test_progress;
mod test_relocation;
mod test_report;
mod test_resume;
mod test_review;
mod test_run;
mod test_setup;
mod test_signal;
mod test_threads;
mod test_torchscript;
mod test_train_outputs;
mod test_verdict;
