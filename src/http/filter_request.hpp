// `?filter=` of a request (docs/api.md "Server-side filters"): the misspelled-parameter check,
// decoding, compiling, and the 400 or 503 that refuses it.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "context/server_context.hpp"
#include "eventstreams/filter.hpp"
#include "net/responses.hpp"

namespace eventstreams {

struct request_filter {
  std::shared_ptr<const filter::compiled> filter;  // null when the request has no filter
  std::optional<response> refusal;                 // the answer when the filter is refused
};

// The filter of a request with raw query `query`. `shared`: taken from the process-wide set
// (a stream; counts against filter.max_compiled), else compiled for this answer alone
// (/v2/filter). Refusals are counted in eventstreams_filter_rejected_total{reason}.
request_filter filter_of_request(const request& req, std::string_view query, server_context& ctx,
                                 bool shared);

// The parser's limit of a request's line and headers together: server.max_request_header_bytes,
// plus room in the request line for the largest filter that filter.max_length and
// filter.max_clauses allow, every byte percent-encoded ("%XX") and each clause behind
// "&filter=" (docs/api.md: a legal filter never gets 431). The header fields alone are held to
// server.max_request_header_bytes after parsing.
constexpr std::size_t request_head_limit(const config& cfg) {
  return cfg.server.max_request_header_bytes + 3 * cfg.filter.max_length +
         8 * cfg.filter.max_clauses;
}

// GET /v2/filter?filter=…: the canonical form and the fields read, or the stream's 400.
response handle_filter_check(const request& req, std::string_view query, server_context& ctx);

}  // namespace eventstreams
