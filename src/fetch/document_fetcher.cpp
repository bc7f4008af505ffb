// libcurl's easy interface, one handle per fetch: a fetch happens every few minutes, so a kept
// connection would save nothing worth its state.
#include "fetch/document_fetcher.hpp"

#include <curl/curl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

namespace eventstreams::fetch {
namespace {

struct curl_deleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct file_closer {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

struct transfer {
  std::string body;
  std::size_t max_bytes = 0;
  bool too_large = false;
  const std::atomic<bool>* abort = nullptr;
};

std::size_t on_data(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<transfer*>(user);
  const std::size_t n = size * count;
  if (t->body.size() + n > t->max_bytes) {
    t->too_large = true;
    return 0;  // ends the transfer with CURLE_WRITE_ERROR
  }
  t->body.append(data, n);
  return n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* t = static_cast<const transfer*>(user);
  return t->abort != nullptr && t->abort->load() ? 1 : 0;
}

fetch_result read_file(const std::string& path, const fetch_options& options) {
  fetch_result r;
  const std::unique_ptr<std::FILE, file_closer> f(std::fopen(path.c_str(), "rb"));
  if (!f) {
    r.cause = "errno " + std::to_string(errno);
    r.error = path + ": " + std::strerror(errno);
    return r;
  }
  char buffer[65536];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, f.get())) > 0) {
    if (r.body.size() + n > options.max_bytes) {
      r.result = outcome::too_large;
      r.error = path + ": larger than stream_config.max_bytes (" +
                std::to_string(options.max_bytes) + " bytes)";
      r.cause = "too_large";
      r.body.clear();
      return r;
    }
    r.body.append(buffer, n);
  }
  if (std::ferror(f.get()) != 0) {
    r.cause = "errno " + std::to_string(errno);
    r.error = path + ": " + std::strerror(errno);
    r.body.clear();
    return r;
  }
  r.result = outcome::ok;
  return r;
}

fetch_result fetch_http(const std::string& url, const fetch_options& options) {
  fetch_result r;
  const std::unique_ptr<CURL, curl_deleter> curl(curl_easy_init());
  if (!curl) {
    r.error = "curl_easy_init failed";
    r.cause = r.error;
    return r;
  }
  transfer t;
  t.max_bytes = options.max_bytes;
  t.abort = options.abort;
  char error[CURL_ERROR_SIZE] = {};
  CURL* c = curl.get();
  const auto timeout = static_cast<long>(options.timeout.count());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  // No signals: this runs on a pool thread of a multi-threaded process.
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout);
  curl_easy_setopt(c, CURLOPT_USERAGENT, user_agent());
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // whatever libcurl decodes (gzip, ...)
  // Proxies: libcurl reads http_proxy, https_proxy and no_proxy from the environment itself.
  if (!options.ca_file.empty()) {
    // Replaces the default bundle file; the system's CA directory (/etc/ssl/certs on Debian)
    // stays trusted, so this adds a CA rather than replacing them.
    curl_easy_setopt(c, CURLOPT_CAINFO, options.ca_file.c_str());
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  const CURLcode code = curl_easy_perform(c);
  if (code != CURLE_OK) {
    if (t.too_large) {
      r.result = outcome::too_large;
      r.error =
          "larger than stream_config.max_bytes (" + std::to_string(options.max_bytes) + " bytes)";
      r.cause = "too_large";
    } else {
      r.result = code == CURLE_OPERATION_TIMEDOUT    ? outcome::timeout
                 : code == CURLE_ABORTED_BY_CALLBACK ? outcome::aborted
                                                     : outcome::unreachable;
      r.error = error[0] != '\0' ? error : curl_easy_strerror(code);
      r.cause = "curl " + std::to_string(static_cast<int>(code));
    }
    return r;
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) {
    r.result = outcome::http_error;
    r.error = "HTTP " + std::to_string(status);
    r.cause = r.error;
    return r;
  }
  r.result = outcome::ok;
  r.body = std::move(t.body);
  return r;
}

}  // namespace

const char* outcome_name(outcome o) noexcept {
  switch (o) {
    case outcome::ok:
      return "ok";
    case outcome::unreachable:
      return "unreachable";
    case outcome::timeout:
      return "timeout";
    case outcome::http_error:
      return "http_error";
    case outcome::too_large:
      return "too_large";
    case outcome::aborted:
      return "aborted";
  }
  return "unknown";
}

bool is_http(const std::string& uri) noexcept {
  return curl_strnequal(uri.c_str(), "http://", 7) != 0 ||
         curl_strnequal(uri.c_str(), "https://", 8) != 0;
}

void global_init() {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    throw std::runtime_error("curl_global_init failed");
}

void global_cleanup() noexcept {
  curl_global_cleanup();
}

const char* user_agent() noexcept {
  // Wikimedia's User-Agent policy asks for a way to reach the operator of a client: the
  // project's home, as /_info gives it.
  return "eventstreams/" EVENTSTREAMS_VERSION " (+https://github.com/eventstreams/eventstreams)";
}

fetch_result fetch_document(const std::string& uri, const fetch_options& options) {
  return is_http(uri) ? fetch_http(uri, options) : read_file(uri, options);
}

}  // namespace eventstreams::fetch
