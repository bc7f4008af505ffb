// The filter language of `?filter=` (docs/api.md "Server-side filters"): compiling clauses into
// a shared, immutable filter, and evaluating it on a record without building a DOM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace eventstreams::filter {

// Every bound of the language, each a setting under `filter:` (docs/api.md "Limits"). Checked
// while parsing, so no input makes the parser itself expensive.
struct limits {
  std::size_t max_length = 4096;              // decoded bytes of all filter values together
  std::size_t max_clauses = 32;               // filter parameters in one request
  std::size_t max_predicates = 64;            // leaves, after parsing
  std::size_t max_depth = 8;                  // parentheses, '!' and function calls nested
  std::size_t max_path_segments = 8;          // segments of one dotted path
  std::size_t max_path_length = 256;          // bytes of one path as written
  std::size_t max_set_values = 1024;          // values after one operator
  std::size_t max_values = 4096;              // values in all clauses
  std::size_t max_regexes = 8;                // =~ and !~ patterns in all clauses
  std::size_t max_regex_length = 256;         // bytes of one pattern
  std::size_t regex_max_mem = 256 * 1024;     // RE2's max_mem for one pattern
  std::size_t max_regex_program_size = 2000;  // RE2's ProgramSize() of one pattern
  std::size_t max_cidr_ranges = 256;          // ranges in one cidr()
  std::size_t max_compiled = 50000;           // distinct compiled filters in the process
};

// Why a filter was refused: 400 invalid_filter (syntax, bad regex or CIDR, a list after an
// ordering operator, ...) or 400 filter_too_complex (a limit), docs/api.md "Errors".
struct compile_error {
  enum class kind { invalid_filter, too_complex };
  kind what = kind::invalid_filter;
  std::size_t clause = 0;  // 1-based index of the filter parameter, 0 when about all of them
  std::size_t offset = 0;  // 1-based character (code point) in that clause, 0 when none
  std::string detail;      // one sentence for the client, naming clause and character
  std::string expected;    // invalid_filter: what the parser expected there, may be empty
  std::string limit;       // too_complex: the setting, e.g. "filter.max_predicates"
  std::size_t limit_value = 0;
};

// The record a filter looks at. `value` is the JSON payload; the rest are the pseudo-fields
// $topic, $partition, $offset, $timestamp (ms, -1 when none: missing) and $key (missing when
// the record has no key).
struct record_view {
  std::string_view value;
  std::string_view topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::int64_t timestamp = -1;
  std::optional<std::string_view> key;
};

class program;  // the lowered form (src/filter/program.hpp)

// Per-thread working memory of evaluation (field values of the record being evaluated). Not
// shared between threads; reused across records and filters so evaluation does not allocate
// once warm.
class scratch {
 public:
  scratch();
  ~scratch();
  scratch(const scratch&) = delete;
  scratch& operator=(const scratch&) = delete;

  struct state;
  state& get() { return *state_; }

 private:
  std::unique_ptr<state> state_;
};

// One compiled filter: immutable, shared by every connection that asked for the same canonical
// form, safe to evaluate from many threads at once (each with its own scratch).
class compiled {
 public:
  explicit compiled(std::unique_ptr<const program> prog);
  ~compiled();

  // The normalised text (docs/api.md): one line, equal for filters that mean the same after
  // normalisation, valid input to compile() that yields itself.
  const std::string& canonical() const;
  // The paths the filter reads, canonical spelling, sorted ("$topic", "meta.domain", ...).
  const std::vector<std::string>& fields() const;
  // Whether any predicate reads the JSON payload (one that reads only pseudo-fields does not).
  bool reads_payload() const;

  // Whether `record` matches. Deterministic: the same record always gives the same answer. A
  // payload that is not valid JSON has no fields (every positive comparison is false).
  bool matches(const record_view& record, scratch& work) const;

  // The lowered form (src/filter/program.hpp), for the evaluators of many filters at once.
  const program& code() const noexcept { return *prog_; }

 private:
  std::unique_ptr<const program> prog_;
};

// Distinct compiled regexes alive in the process: a pattern used by many filters (the same
// memory budget) is one RE2 object, shared.
std::size_t regexes_alive();

// What compile() produced: a filter or the reason there is none.
struct compile_result {
  std::shared_ptr<const compiled> filter;
  std::optional<compile_error> error;
};

// Parses, checks, normalises and compiles the decoded `filter` values of one request (ANDed).
// An empty span is not a filter: callers do not ask. Thread-safe.
compile_result compile(std::span<const std::string> clauses, const limits& bounds);

// The process-wide set of distinct compiled filters, by canonical form: a filter asked for by
// many connections is compiled once and shared (docs/api.md). Entries go when the last
// connection using them drops its pointer. Thread-safe.
class registry {
 public:
  explicit registry(limits bounds) : bounds_(bounds) {}

  enum class outcome { ok, refused, full };
  struct lookup {
    outcome result = outcome::ok;
    std::shared_ptr<const compiled> filter;  // when ok
    std::optional<compile_error> error;      // when refused
  };

  // The shared filter for these clauses; `full` when limits.max_compiled distinct filters are
  // alive and this one is not among them (503 unavailable).
  lookup get(std::span<const std::string> clauses);

  // Distinct filters alive now.
  std::size_t size() const;

  const limits& bounds() const { return bounds_; }

 private:
  limits bounds_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::weak_ptr<const compiled>> by_canonical_;
};

}  // namespace eventstreams::filter
