// Stream name/alias lookup and the per-request topic selection (API.md §4) with its delivery
// mode (docs/api.md, "Delivery modes").
#include "eventstreams/stream_catalog.hpp"

#include <algorithm>
#include <utility>

namespace eventstreams {

namespace {

// Linear search: a request names at most max_streams_per_request streams, a handful of topics.
template <typename T>
std::size_t index_of(const std::vector<T>& items, const T& item) {
  return static_cast<std::size_t>(std::find(items.begin(), items.end(), item) - items.begin());
}

}  // namespace

stream_catalog::stream_catalog(std::vector<stream_config> streams) : streams_(std::move(streams)) {
  // parse_config already rejects a name used twice; should a caller build a catalog by hand,
  // the first stream to claim a name keeps it (emplace does not overwrite).
  for (std::size_t i = 0; i < streams_.size(); ++i) {
    index_.emplace(streams_[i].name, i);
  }
  for (std::size_t i = 0; i < streams_.size(); ++i) {
    for (const auto& alias : streams_[i].aliases) {
      index_.emplace(alias, i);
    }
  }
}

const stream_config* stream_catalog::find(std::string_view name_or_alias) const {
  const auto it = index_.find(std::string(name_or_alias));
  return it == index_.end() ? nullptr : &streams_[it->second];
}

std::vector<std::string> stream_catalog::all_topics() const {
  std::vector<std::string> topics;
  for (const auto& stream : streams_) {
    for (const auto& topic : stream.topics) {
      if (index_of(topics, topic) == topics.size()) {
        topics.push_back(topic);
      }
    }
  }
  return topics;
}

stream_selection stream_catalog::select(std::string_view list) const {
  stream_selection selection;
  bool all_shared = true;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = list.find(',', start);
    const std::string item(
        list.substr(start, comma == std::string_view::npos ? comma : comma - start));
    const stream_config* stream = find(item);
    if (stream == nullptr) {
      if (index_of(selection.unknown, item) == selection.unknown.size()) {
        selection.unknown.push_back(item);
      }
    } else if (index_of(selection.stream_names, stream->name) == selection.stream_names.size()) {
      selection.stream_names.push_back(stream->name);
      all_shared = all_shared && stream->fanout == delivery_mode::shared;
      const bool pass = stream->canary_events == canary_policy::pass;
      for (const auto& topic : stream->topics) {
        const std::size_t at = index_of(selection.topics, topic);
        if (at == selection.topics.size()) {
          selection.topics.push_back(topic);
          selection.pass_canary.push_back(pass);
        } else if (pass) {
          // A topic shared by a dropping and a passing stream: the client asked for canaries.
          selection.pass_canary[at] = true;
        }
      }
    }
    if (comma == std::string_view::npos) {
      break;
    }
    start = comma + 1;
  }
  // A request that mixes delivery modes is served per connection (docs/api.md,
  // "Delivery modes").
  selection.shared = !selection.stream_names.empty() && all_shared;
  return selection;
}

}  // namespace eventstreams
