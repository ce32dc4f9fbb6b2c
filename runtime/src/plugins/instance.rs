//! One created plugin: its descriptor, instance pointer and host context.

use super::host_api::HostContext;
use super::{PluginError, PluginInfo};
use memscope_sdk::abi::{with_sink, ErrorSink, HostApiC, PluginDescriptor, Status, StrRef};
use memscope_sdk::Hook;
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::sync::Arc;
use std::time::Instant;

/// Makes an instance of a plugin the program already holds, given the host's callback
/// table (`memscope_sdk::ffi::adopt`), instead of creating one from settings.
pub type Adopt = Box<dyn FnOnce(*const HostApiC) -> *mut c_void + Send>;

/// A plugin ready to be instantiated: its checked descriptor, and for an instance the
/// program made, how to adopt it.
pub struct Opened {
    /// The descriptor, checked (a library's) or built by the SDK (an in-process one's).
    pub descriptor: &'static PluginDescriptor,
    /// Adopts the program's instance; `None` creates one with `create` and the settings.
    pub adopt: Option<Adopt>,
}

impl Opened {
    /// A plugin created from its settings.
    pub fn create(descriptor: &'static PluginDescriptor) -> Self {
        Opened { descriptor, adopt: None }
    }
}

/// A live plugin instance. Calls into it are serialized by the owner (a mutex).
pub struct PluginInstance {
    /// What the descriptor says.
    pub info: PluginInfo,
    /// Report and skip on failure instead of ending the job.
    pub optional: bool,
    /// Set after an optional plugin failed: it is not called again.
    pub disabled: bool,
    /// The host context its callbacks use.
    pub context: Arc<HostContext>,
    /// Seconds spent in each hook so far (by hook name), host callbacks included: what
    /// the plugin costs the run.
    pub seconds: BTreeMap<&'static str, f64>,
    descriptor: &'static PluginDescriptor,
    instance: *mut c_void,
    // Boxed so its address is stable: the plugin keeps a pointer to it.
    _api: Box<HostApiC>,
}

// SAFETY: the instance is only used under the owner's mutex, and plugins are `Send`
// (the SDK's trait requires it).
unsafe impl Send for PluginInstance {}

impl PluginInstance {
    /// Creates an instance from its config text (or adopts the program's instance).
    pub fn create(opened: Opened, info: PluginInfo, optional: bool, config: &str, context: Arc<HostContext>) -> Result<Self, PluginError> {
        let Opened { descriptor, adopt } = opened;
        let api = Box::new(context.api());
        let mut instance: *mut c_void = std::ptr::null_mut();
        let (status, message) = match adopt {
            // `api` is boxed and kept with the instance, so it outlives it.
            Some(adopt) => (Status::Ok, {
                instance = adopt(&*api);
                None
            }),
            // SAFETY: the descriptor passed the handshake; `config` is borrowed for the
            // call; `api` is boxed and kept with the instance, so it outlives it as
            // `create` requires.
            None => with_sink(|err| unsafe { (descriptor.create)(StrRef::new(config), &*api, &mut instance, err) }),
        };
        if status != Status::Ok || instance.is_null() {
            return Err(PluginError::Hook {
                plugin: info.name.clone(),
                hook: "create".into(),
                message: message.unwrap_or_else(|| "no instance returned".into()),
                panicked: status == Status::Panic,
            });
        }
        Ok(PluginInstance { info, optional, disabled: false, context, seconds: BTreeMap::new(), descriptor, instance, _api: api })
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// Whether this instance should receive `hook`.
    pub fn wants(&self, hook: Hook) -> bool {
        !self.disabled && self.info.has(hook)
    }

    /// Calls `hook` through `call`, which receives the descriptor, instance and error
    /// sink; maps the status to an error naming plugin and hook, and adds the call's
    /// time to the hook's `seconds`.
    pub fn call(
        &mut self,
        hook: Hook,
        call: impl FnOnce(&PluginDescriptor, *mut c_void, *mut ErrorSink) -> Status,
    ) -> Result<(), PluginError> {
        let started = Instant::now();
        let (status, message) = with_sink(|err| call(self.descriptor, self.instance, err));
        *self.seconds.entry(hook.name()).or_default() += started.elapsed().as_secs_f64();
        match status {
            Status::Ok => Ok(()),
            s => Err(PluginError::hook(&self.info.name, hook, message.unwrap_or_else(|| "no message".into()), s == Status::Panic)),
        }
    }
}

impl Drop for PluginInstance {
    fn drop(&mut self) {
        // SAFETY: created by this descriptor's `create`, destroyed once.
        unsafe { (self.descriptor.destroy)(self.instance) }
    }
}
