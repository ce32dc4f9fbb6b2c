//! A connection of its own to a group's `TCPStore`: counters and keys, each call bounded
//! by the connection's own timeout.

use crate::ffi::{self, call};
use crate::ExtError;
use std::ffi::CString;
use std::ptr::NonNull;
use std::time::Duration;

/// A client of the `TCPStore` at an address, under a key prefix. It opens its own
/// connection, so its calls neither wait behind nor hold up the group's use of the
/// store, and its own timeout: a call to a store whose host stopped answering fails
/// after that time.
#[derive(Debug)]
pub struct StoreClient {
    raw: NonNull<ffi::Store>,
}

// SAFETY: the client is owned by this value alone; a TCPStore client serializes its
// calls internally, and `&mut self` methods allow one call at a time anyway.
unsafe impl Send for StoreClient {}

impl StoreClient {
    /// Connects to the store at `addr:port`; every key is read and written under `prefix`.
    pub fn connect(addr: &str, port: u16, prefix: &str, timeout: Duration) -> Result<StoreClient, ExtError> {
        let addr = c_string("store", addr)?;
        let prefix = c_string("store", prefix)?;
        let timeout_ms = timeout.as_millis().clamp(1, i32::MAX as u128) as std::ffi::c_long;
        let mut raw: *mut ffi::Store = std::ptr::null_mut();
        // SAFETY: the strings live through the call; `raw` is an out-parameter.
        call("store", |error| unsafe {
            ffi::mste_store_connect(addr.as_ptr(), i32::from(port), prefix.as_ptr(), timeout_ms, &mut raw, error)
        })?;
        let raw = NonNull::new(raw).ok_or_else(|| ExtError::torch("store", "no store returned".into()))?;
        Ok(StoreClient { raw })
    }

    /// Adds `delta` to the counter `key` (created at 0); returns its new value.
    pub fn add(&mut self, key: &str, delta: i64) -> Result<i64, ExtError> {
        let key = c_string("store add", key)?;
        let mut value = 0i64;
        // SAFETY: the store is alive; `key` lives through the call.
        call("store add", |error| unsafe { ffi::mste_store_add(self.raw.as_ptr(), key.as_ptr(), delta, &mut value, error) })?;
        Ok(value)
    }

    /// Sets `key` to `value`.
    pub fn set(&mut self, key: &str, value: &[u8]) -> Result<(), ExtError> {
        let key = c_string("store set", key)?;
        // SAFETY: the store is alive; `key` and `value` live through the call.
        call("store set", |error| unsafe { ffi::mste_store_set(self.raw.as_ptr(), key.as_ptr(), value.as_ptr(), value.len(), error) })
    }

    /// The value of `key`, which must exist (a missing one is waited for until the
    /// connection's timeout).
    pub fn get(&mut self, key: &str) -> Result<Vec<u8>, ExtError> {
        let key = c_string("store get", key)?;
        let mut bytes: *mut u8 = std::ptr::null_mut();
        let mut len = 0usize;
        // SAFETY: the store is alive; `key` lives through the call; on success `bytes`
        // is a malloc'd buffer of `len` bytes that we copy and free once.
        unsafe {
            call("store get", |error| ffi::mste_store_get(self.raw.as_ptr(), key.as_ptr(), &mut bytes, &mut len, error))?;
            let value = std::slice::from_raw_parts(bytes, len).to_vec();
            ffi::mste_store_bytes_free(bytes);
            Ok(value)
        }
    }

    /// Whether `key` exists (never waits for it).
    pub fn check(&mut self, key: &str) -> Result<bool, ExtError> {
        let key = c_string("store check", key)?;
        let mut exists = false;
        // SAFETY: the store is alive; `key` lives through the call.
        call("store check", |error| unsafe { ffi::mste_store_check(self.raw.as_ptr(), key.as_ptr(), &mut exists, error) })?;
        Ok(exists)
    }

    /// The counters `keys` (as [`StoreClient::add`] keeps them), in one round trip
    /// when they all exist; a missing one reads 0.
    pub fn counters(&mut self, keys: &[String]) -> Result<Vec<i64>, ExtError> {
        let names = keys.iter().map(|k| c_string("store counters", k)).collect::<Result<Vec<_>, _>>()?;
        let pointers: Vec<*const std::ffi::c_char> = names.iter().map(|n| n.as_ptr()).collect();
        let mut values = vec![0i64; keys.len()];
        // SAFETY: the store is alive; `pointers` point into `names`, which live through
        // the call; `values` has room for one counter per key.
        call("store counters", |error| unsafe {
            ffi::mste_store_counters(self.raw.as_ptr(), pointers.as_ptr(), pointers.len(), values.as_mut_ptr(), error)
        })?;
        Ok(values)
    }
}

impl Drop for StoreClient {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `mste_store_connect` and is freed once, here.
        unsafe { ffi::mste_store_free(self.raw.as_ptr()) }
    }
}

/// A `TCPStore` served on a port of every interface, as torchrun's agent serves one for
/// its ranks (which then connect to it like clients: `TORCHELASTIC_USE_AGENT_STORE`).
/// It outlives the ranks: a group started again after a failure meets in the same
/// store, under the keys of its restart. Stops serving when dropped.
#[derive(Debug)]
pub struct StoreServer {
    raw: NonNull<ffi::StoreServer>,
    port: u16,
}

// SAFETY: the server is owned by this value alone and only freed through it; the
// TCPStore server runs on threads of its own.
unsafe impl Send for StoreServer {}

impl StoreServer {
    /// Serves a store on `port` (0: a free one, then [`StoreServer::port`] says which).
    pub fn serve(port: u16) -> Result<StoreServer, ExtError> {
        let mut raw: *mut ffi::StoreServer = std::ptr::null_mut();
        let mut bound: std::ffi::c_int = 0;
        // SAFETY: `raw` and `bound` are out-parameters.
        call("store server", |error| unsafe { ffi::mste_store_serve(i32::from(port), &mut raw, &mut bound, error) })?;
        let raw = NonNull::new(raw).ok_or_else(|| ExtError::torch("store server", "no server returned".into()))?;
        let port = u16::try_from(bound).map_err(|_| ExtError::torch("store server", format!("bound to port {bound}")))?;
        Ok(StoreServer { raw, port })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for StoreServer {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `mste_store_serve` and is freed once, here.
        unsafe { ffi::mste_store_server_free(self.raw.as_ptr()) }
    }
}

fn c_string(call: &'static str, text: &str) -> Result<CString, ExtError> {
    CString::new(text).map_err(|_| ExtError::torch(call, format!("{text:?} holds a NUL byte")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{C10dGroup, Rendezvous};
    use tch::Device;

    #[test]
    fn a_client_of_its_own_reads_and_writes_the_groups_store() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // A group of one serves the store, as rank 0 does.
        let rendezvous = Rendezvous {
            addr: "127.0.0.1".into(),
            port,
            rank: 0,
            world: 1,
            serve_store: true,
            prefix: "memscope/0".into(),
            timeout: Duration::from_secs(10),
            device: Device::Cpu,
        };
        let _group = C10dGroup::new(&rendezvous).unwrap();
        let mut a = StoreClient::connect("127.0.0.1", port, "test/", Duration::from_secs(2)).unwrap();
        let mut b = StoreClient::connect("127.0.0.1", port, "test/", Duration::from_secs(2)).unwrap();
        assert_eq!(a.add("alive/0", 1).unwrap(), 1);
        assert_eq!(b.add("alive/0", 1).unwrap(), 2);
        // One round trip when every counter exists; a missing one reads 0.
        assert_eq!(b.add("alive/1", 5).unwrap(), 5);
        assert_eq!(a.counters(&["alive/0".into(), "alive/1".into()]).unwrap(), [2, 5]);
        assert_eq!(a.counters(&["alive/0".into(), "alive/9".into()]).unwrap(), [2, 0]);
        assert!(!a.check("lost").unwrap());
        b.set("lost", b"rank 1 gave no sign of life").unwrap();
        // A set is not answered: the next call on its connection is when it is stored.
        assert!(b.check("lost").unwrap());
        assert!(a.check("lost").unwrap());
        assert_eq!(a.get("lost").unwrap(), b"rank 1 gave no sign of life");
        // Another prefix is another namespace.
        let mut other = StoreClient::connect("127.0.0.1", port, "other/", Duration::from_secs(2)).unwrap();
        assert!(!other.check("lost").unwrap());
    }

    #[test]
    fn a_served_store_outlives_its_clients_and_ends_when_dropped() {
        let server = StoreServer::serve(0).unwrap();
        assert_ne!(server.port(), 0, "a free port was chosen");
        let mut first = StoreClient::connect("127.0.0.1", server.port(), "memscope/0/", Duration::from_secs(2)).unwrap();
        assert_eq!(first.add("arrived", 1).unwrap(), 1);
        drop(first);
        let mut again = StoreClient::connect("127.0.0.1", server.port(), "memscope/0/", Duration::from_secs(2)).unwrap();
        assert_eq!(again.add("arrived", 1).unwrap(), 2, "the keys outlive the clients");
        let port = server.port();
        drop(server);
        assert!(StoreClient::connect("127.0.0.1", port, "memscope/0/", Duration::from_millis(500)).is_err());
        assert!(StoreServer::serve(port).is_ok(), "the port is free again");
    }

    #[test]
    fn a_store_nobody_serves_is_an_error_after_the_timeout() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let start = std::time::Instant::now();
        let err = StoreClient::connect("127.0.0.1", port, "test/", Duration::from_millis(500)).unwrap_err();
        assert!(err.to_string().starts_with("store: "), "{err}");
        assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
    }
}
