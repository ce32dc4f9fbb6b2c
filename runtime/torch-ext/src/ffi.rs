//! The shim's C interface (`csrc/*.cpp`). Every function returns 0 on success; on
//! failure 1, with a message in `*error` to be freed by `mste_error_free`.

use std::ffi::{c_char, c_int, c_long, c_void};
use torch_sys::C_tensor;

/// `torch::jit::Module`, only ever behind a pointer.
#[repr(C)]
pub struct Module {
    _private: [u8; 0],
}

/// A c10d process group with its store (`MsteGroup`), only ever behind a pointer.
#[repr(C)]
pub struct Group {
    _private: [u8; 0],
}

/// A `c10d::Reducer` with its communication hook (`MsteReducer`), only ever behind a pointer.
#[repr(C)]
pub struct Reducer {
    _private: [u8; 0],
}

/// A client connection to a `TCPStore` (`MsteStore`), only ever behind a pointer.
#[repr(C)]
pub struct Store {
    _private: [u8; 0],
}

/// A served `TCPStore` (`MsteStoreServer`), only ever behind a pointer.
#[repr(C)]
pub struct StoreServer {
    _private: [u8; 0],
}

/// Receives one named tensor (a new handle the callee owns).
pub type EachTensor = unsafe extern "C" fn(ctx: *mut c_void, name: *const c_char, tensor: *mut C_tensor);

unsafe extern "C" {
    pub fn mste_error_free(error: *mut c_char);
    pub fn mste_set_deterministic(on: bool, error: *mut *mut c_char) -> c_int;
    pub fn mste_deterministic() -> bool;
    pub fn mste_autocast_enter(
        device_type: c_int,
        dtype: c_int,
        prev_enabled: *mut bool,
        prev_dtype: *mut c_int,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn mste_autocast_exit(device_type: c_int, prev_enabled: bool, prev_dtype: c_int, error: *mut *mut c_char) -> c_int;
    pub fn mste_script_load(path: *const c_char, device: c_int, out: *mut *mut Module, error: *mut *mut c_char) -> c_int;
    pub fn mste_script_free(module: *mut Module);
    pub fn mste_script_forward(module: *mut Module, input: *const C_tensor, out: *mut *mut C_tensor, error: *mut *mut c_char) -> c_int;
    pub fn mste_script_train(module: *mut Module, on: bool, error: *mut *mut c_char) -> c_int;
    pub fn mste_script_named_tensors(
        module: *mut Module,
        buffers: bool,
        ctx: *mut c_void,
        each: EachTensor,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn mste_group_new(
        addr: *const c_char,
        port: c_int,
        rank: c_int,
        world: c_int,
        serve_store: bool,
        prefix: *const c_char,
        timeout_ms: c_long,
        cuda_device: c_int,
        out: *mut *mut Group,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn mste_group_sibling(parent: *mut Group, name: *const c_char, out: *mut *mut Group, error: *mut *mut c_char) -> c_int;
    pub fn mste_group_free(group: *mut Group);
    pub fn mste_profiler_start(cuda: bool, error: *mut *mut c_char) -> c_int;
    pub fn mste_profiler_stop(path: *const c_char, events: *mut c_long, error: *mut *mut c_char) -> c_int;
    pub fn mste_cuda_use_side_stream(device: c_int, error: *mut *mut c_char) -> c_int;
    pub fn mste_cuda_synchronize_current_stream(device: c_int, error: *mut *mut c_char) -> c_int;
    pub fn mste_group_all_reduce(group: *mut Group, tensor: *mut C_tensor, average: bool, error: *mut *mut c_char) -> c_int;
    pub fn mste_group_broadcast(group: *mut Group, tensor: *mut C_tensor, root: c_int, error: *mut *mut c_char) -> c_int;
    pub fn mste_group_all_gather(group: *mut Group, input: *const C_tensor, out: *mut *mut C_tensor, error: *mut *mut c_char) -> c_int;
    pub fn mste_group_barrier(group: *mut Group, error: *mut *mut c_char) -> c_int;
    pub fn mste_reducer_new(
        group: *mut Group,
        params: *const *mut C_tensor,
        count: usize,
        first_bucket_bytes: i64,
        bucket_bytes: i64,
        out: *mut *mut Reducer,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn mste_reducer_free(reducer: *mut Reducer);
    pub fn mste_reducer_backward(
        reducer: *mut Reducer,
        loss: *const C_tensor,
        buckets: *mut i64,
        in_flight_ns: *mut i64,
        exposed_ns: *mut i64,
        collective_failed: *mut bool,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn mste_store_connect(
        addr: *const c_char,
        port: c_int,
        prefix: *const c_char,
        timeout_ms: c_long,
        out: *mut *mut Store,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn mste_store_free(store: *mut Store);
    pub fn mste_store_serve(port: c_int, out: *mut *mut StoreServer, bound_port: *mut c_int, error: *mut *mut c_char) -> c_int;
    pub fn mste_store_server_free(server: *mut StoreServer);
    pub fn mste_store_add(store: *mut Store, key: *const c_char, delta: i64, out: *mut i64, error: *mut *mut c_char) -> c_int;
    pub fn mste_store_set(store: *mut Store, key: *const c_char, value: *const u8, len: usize, error: *mut *mut c_char) -> c_int;
    pub fn mste_store_get(store: *mut Store, key: *const c_char, out: *mut *mut u8, len: *mut usize, error: *mut *mut c_char) -> c_int;
    pub fn mste_store_bytes_free(bytes: *mut u8);
    pub fn mste_store_check(store: *mut Store, key: *const c_char, out: *mut bool, error: *mut *mut c_char) -> c_int;
    pub fn mste_store_counters(store: *mut Store, keys: *const *const c_char, n: usize, out: *mut i64, error: *mut *mut c_char) -> c_int;
}

/// Runs one shim call that reports failure through an error out-parameter, and turns
/// its status into a `Result` carrying the message.
pub fn call(what: &'static str, f: impl FnOnce(*mut *mut c_char) -> c_int) -> Result<(), crate::ExtError> {
    let mut error: *mut c_char = std::ptr::null_mut();
    if f(&mut error) == 0 {
        return Ok(());
    }
    let message = if error.is_null() {
        String::new()
    } else {
        // SAFETY: a failing shim call stores a NUL-terminated malloc'd string, which
        // we copy and then free exactly once.
        unsafe {
            let text = std::ffi::CStr::from_ptr(error).to_string_lossy().into_owned();
            mste_error_free(error);
            text
        }
    };
    Err(crate::ExtError::torch(what, message))
}
