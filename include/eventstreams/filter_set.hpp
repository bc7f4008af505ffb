// Many compiled filters applied to the same records: the shared delivery mode evaluates each
// distinct filter at most once per record, and only those an equality index cannot rule out
// (docs/api.md §11, "Filters in the shared mode").
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "eventstreams/filter.hpp"

namespace eventstreams::filter {

// A filter whose top level requires `path = v1,v2,...` (a payload path, $topic or $key) is
// indexed under those values: a record is evaluated only against the filters indexed under the
// string it holds at that path, plus those with no such predicate. So 10,000 filters that each
// name a different wiki cost about one evaluation per record, not 10,000. Not thread-safe (the
// hub's thread).
class filter_set {
 public:
  filter_set();
  ~filter_set();
  filter_set(const filter_set&) = delete;
  filter_set& operator=(const filter_set&) = delete;

  // One more user of `f`: a filter added n times is removed n times.
  void add(const std::shared_ptr<const compiled>& f);
  void remove(const compiled* f);
  bool empty() const noexcept { return users_.empty(); }
  std::size_t size() const noexcept { return users_.size(); }  // distinct filters

  // Appends to `out` each filter of the set that matches `record`, each once. Returns how many
  // filters it evaluated in full (the index's effect shows against size()).
  std::size_t match(const record_view& record, std::vector<const compiled*>& out);

 private:
  struct guard;
  struct user {
    std::shared_ptr<const compiled> filter;
    std::size_t count = 0;
    guard* indexed = nullptr;  // null: evaluated on every record
    std::vector<std::string> values;
  };
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  std::size_t evaluate(const std::vector<const compiled*>& filters, const record_view& record,
                       std::vector<const compiled*>& out);

  std::unordered_map<std::string, std::unique_ptr<guard>, string_hash, std::equal_to<>> guards_;
  std::vector<const compiled*> unindexed_;
  std::unordered_map<const compiled*, user> users_;
  scratch guard_work_;
  scratch work_;
};

}  // namespace eventstreams::filter
