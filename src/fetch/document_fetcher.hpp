// Fetches a document (the stream config, docs/api.md "Streams from EventStreamConfig") from an
// http:// or https:// URL with libcurl, or reads it from a file path. Blocking: call it on the
// blocking pool or before the I/O threads start, never on an I/O thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>

namespace eventstreams::fetch {

// How a fetch ended; the names are the `result` label of
// eventstreams_stream_config_fetches_total (with "invalid" for a document that cannot be used).
enum class outcome { ok, unreachable, timeout, http_error, too_large, aborted };
const char* outcome_name(outcome o) noexcept;

struct fetch_options {
  std::chrono::milliseconds timeout{10000};  // the whole fetch: connect, TLS, redirects, body
  std::string ca_file;                       // extra CA bundle for https; "" = the system's
  std::size_t max_bytes = std::size_t{16} << 20;
  // Checked while the transfer runs: set it to end the fetch early (shutdown).
  const std::atomic<bool>* abort = nullptr;
};

struct fetch_result {
  outcome result = outcome::unreachable;
  std::string body;   // when ok
  std::string error;  // one line, when not ok: what failed, e.g. "HTTP 500"
  // When not ok: what failed without the details that vary from one attempt to the next (the
  // milliseconds in curl's timeout message), e.g. "curl 28", "HTTP 500", "errno 2": two
  // failures with the same cause have the same `cause`.
  std::string cause;
  bool ok() const noexcept { return result == outcome::ok; }
};

// Whether `uri` is fetched over HTTP(S) (else it is a file path).
bool is_http(const std::string& uri) noexcept;

// Initialises libcurl; call once from main() before any thread starts (curl_global_init is not
// thread-safe). global_cleanup() undoes it once every thread that fetches has ended.
void global_init();
void global_cleanup() noexcept;

// The User-Agent sent with every request: "eventstreams/VERSION (+HOME)".
const char* user_agent() noexcept;

// Fetches or reads `uri`. Never throws for I/O failures: they are in the result.
fetch_result fetch_document(const std::string& uri, const fetch_options& options);

}  // namespace eventstreams::fetch
