// A client of the group's TCPStore of its own, for what runs beside the collectives:
// the ranks' signs of life (memscope's liveness watch). Its own connection and its own
// short timeout, so that a store that stopped answering (its host frozen) ends a call
// in seconds rather than after the group's timeout, and never holds up the group's
// own use of the store.

#include "shim.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using memscope::guarded;

struct MsteStore {
  c10::intrusive_ptr<c10d::Store> store;
};

struct MsteStoreServer {
  c10::intrusive_ptr<c10d::TCPStore> store;
};


extern "C" {

// Connects to the TCPStore at `addr:port` (served by rank 0 or the launcher's agent)
// under the key prefix `prefix`; every call on it ends after `timeout_ms`.
int mste_store_connect(const char *addr, int port, const char *prefix, long timeout_ms, MsteStore **out,
                       char **error) {
  return guarded(error, [&] {
    // A failed call is an answer here (the store's host is gone): the watch says so.
    memscope::QuietLog quiet(memscope::QuietLog::kWarnings);
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(port);
    options.isServer = false;
    options.waitWorkers = false;
    options.timeout = std::chrono::milliseconds(timeout_ms);
    auto tcp = c10::make_intrusive<c10d::TCPStore>(std::string(addr), options);
    *out = new MsteStore{c10::make_intrusive<c10d::PrefixStore>(std::string(prefix), tcp)};
    return 0;
  });
}

void mste_store_free(MsteStore *store) { delete store; }

// Serves a TCPStore on `port` of every interface (0: a free port), as torchrun's agent
// does for its ranks, until freed; `*bound_port` is the port it listens on.
int mste_store_serve(int port, MsteStoreServer **out, int *bound_port, char **error) {
  return guarded(error, [&] {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(port);
    options.isServer = true;
    options.waitWorkers = false;
    auto store = c10::make_intrusive<c10d::TCPStore>(std::string("127.0.0.1"), options);
    *bound_port = store->getPort();
    *out = new MsteStoreServer{store};
    return 0;
  });
}

void mste_store_server_free(MsteStoreServer *server) { delete server; }

// Adds `delta` to the counter `key` (created at 0) and returns the new value.
int mste_store_add(MsteStore *store, const char *key, long long delta, long long *out, char **error) {
  return guarded(error, [&] {
    // A failed call is an answer here (the store's host is gone): the watch says so.
    memscope::QuietLog quiet(memscope::QuietLog::kWarnings);
    *out = store->store->add(key, delta);
    return 0;
  });
}

// Sets `key` to the `len` bytes at `value`.
int mste_store_set(MsteStore *store, const char *key, const unsigned char *value, size_t len, char **error) {
  return guarded(error, [&] {
    // A failed call is an answer here (the store's host is gone): the watch says so.
    memscope::QuietLog quiet(memscope::QuietLog::kWarnings);
    store->store->set(key, std::vector<uint8_t>(value, value + len));
    return 0;
  });
}

// The value of `key` (which must exist: a missing one is waited for until the
// timeout), as a malloc'd buffer of `*len` bytes freed by `mste_store_bytes_free`.
int mste_store_get(MsteStore *store, const char *key, unsigned char **out, size_t *len, char **error) {
  return guarded(error, [&] {
    // A failed call is an answer here (the store's host is gone): the watch says so.
    memscope::QuietLog quiet(memscope::QuietLog::kWarnings);
    auto value = store->store->get(key);
    *len = value.size();
    *out = static_cast<unsigned char *>(std::malloc(value.size() + 1));
    std::memcpy(*out, value.data(), value.size());
    return 0;
  });
}

void mste_store_bytes_free(unsigned char *bytes) { std::free(bytes); }

// Whether `key` exists (never waits for it).
int mste_store_check(MsteStore *store, const char *key, bool *out, char **error) {
  return guarded(error, [&] {
    // A failed call is an answer here (the store's host is gone): the watch says so.
    memscope::QuietLog quiet(memscope::QuietLog::kWarnings);
    *out = store->store->check({std::string(key)});
    return 0;
  });
}

// The counters `keys[0..n]` (as `mste_store_add` keeps them) in one round trip when
// they all exist; a missing one reads 0 (and is created at 0).
int mste_store_counters(MsteStore *store, const char *const *keys, size_t n, long long *out, char **error) {
  return guarded(error, [&] {
    // A failed call is an answer here (the store's host is gone): the watch says so.
    memscope::QuietLog quiet(memscope::QuietLog::kWarnings);
    std::vector<std::string> names(keys, keys + n);
    if (store->store->check(names)) {
      auto values = store->store->multiGet(names);
      for (size_t i = 0; i < n; ++i) {
        out[i] = std::stoll(std::string(values[i].begin(), values[i].end()));
      }
    } else {
      for (size_t i = 0; i < n; ++i) {
        out[i] = store->store->add(names[i], 0);
      }
    }
    return 0;
  });
}

}  // extern "C"
