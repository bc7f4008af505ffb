// Per-partition positions of one connection, rendered incrementally as the SSE id.
#include "eventstreams/position_vector.hpp"

#include <charconv>
#include <limits>
#include <stdexcept>
#include <utility>

#include "eventstreams/event_encoder.hpp"

namespace eventstreams {
namespace {

// Kafka partition ids are dense from 0, so the lookup table per topic is a vector indexed by
// partition; this bound keeps a corrupt id from sizing it absurdly.
constexpr std::int32_t max_partition = 1 << 20;

}  // namespace

position_vector::position_vector(std::vector<partition_position> positions)
    : positions_(std::move(positions)),
      rendered_(positions_.size()),
      prefix_(positions_.size(), 0),
      at_(positions_.size(), 0),
      is_changed_(positions_.size(), 0) {
  for (std::size_t i = 0; i < positions_.size(); ++i) {
    const partition_position& p = positions_[i];
    if (p.partition < 0 || p.partition >= max_partition) {
      throw std::invalid_argument("position_vector: partition out of range for topic " + p.topic);
    }
    auto it = lookup_.find(std::string_view(p.topic));
    if (it == lookup_.end()) {
      it = lookup_.emplace(p.topic, std::vector<std::ptrdiff_t>{}).first;
    }
    auto& by_partition = it->second;
    const auto slot = static_cast<std::size_t>(p.partition);
    if (by_partition.size() <= slot) {
      by_partition.resize(slot + 1, -1);
    }
    // A duplicated (topic, partition) resolves to its first entry, as a linear search would.
    if (by_partition[slot] < 0) {
      by_partition[slot] = static_cast<std::ptrdiff_t>(i);
    }
    render_entry(i);
  }
}

std::ptrdiff_t position_vector::index_of(std::string_view topic, std::int32_t partition) const {
  if (partition < 0) {
    return -1;
  }
  const auto it = lookup_.find(topic);
  if (it == lookup_.end() || static_cast<std::size_t>(partition) >= it->second.size()) {
    return -1;
  }
  return it->second[static_cast<std::size_t>(partition)];
}

void position_vector::advance(std::size_t i, std::int64_t offset, std::int64_t timestamp_ms) {
  partition_position& p = positions_.at(i);
  // Saturate instead of overflowing; Kafka never gets near it.
  p.next_offset = offset < std::numeric_limits<std::int64_t>::max() ? offset + 1 : offset;
  // A record without a timestamp keeps the previous one: it still bounds where to resume by
  // time, while dropping it would lose that fallback.
  if (timestamp_ms >= 0) {
    p.timestamp = timestamp_ms;
  }
  render_entry(i);
}

void position_vector::jump(std::size_t i, std::int64_t next_offset) {
  partition_position& p = positions_.at(i);
  p.next_offset = next_offset;
  p.timestamp.reset();
  render_entry(i);
}

bool position_vector::move_to(std::size_t i, std::int64_t next_offset,
                              std::optional<std::int64_t> timestamp_ms) {
  partition_position& p = positions_.at(i);
  if (next_offset <= p.next_offset)
    return false;
  p.next_offset = next_offset;
  if (timestamp_ms)
    p.timestamp = timestamp_ms;
  render_entry(i);
  return true;
}

const std::string& position_vector::id() {
  if (!dirty_) {
    // Patched in place while every changed entry kept its length; else rendered again.
    for (const auto i : changed_) {
      if (i + 1 < at_.size() ? at_[i + 1] - 1 - at_[i] != rendered_[i].size()
                             : id_.size() - 1 - at_[i] != rendered_[i].size()) {
        dirty_ = true;
        break;
      }
      id_.replace(at_[i], rendered_[i].size(), rendered_[i]);
    }
  }
  for (const auto i : changed_)
    is_changed_[i] = 0;
  changed_.clear();
  if (dirty_)
    render_id();
  return id_;
}

void position_vector::render_id() {
  id_.clear();  // keeps the capacity: no allocation per event once warmed up
  id_.push_back('[');
  for (std::size_t i = 0; i < rendered_.size(); ++i) {
    if (i != 0) {
      id_.push_back(',');
    }
    at_[i] = id_.size();
    id_.append(rendered_[i]);
  }
  id_.push_back(']');
  dirty_ = false;
}

void position_vector::render_entry(std::size_t i) {
  const partition_position& p = positions_[i];
  std::string& text = rendered_[i];
  // The topic and partition never change: rendered once, kept as the entry's prefix.
  if (prefix_[i] == 0) {
    text.clear();
    append_topic_partition(text, p.topic, p.partition);
    text.append(R"(,"offset":)");
    prefix_[i] = text.size();
  }
  text.resize(prefix_[i]);
  append_int(text, p.next_offset);
  if (p.timestamp) {
    text.append(R"(,"timestamp":)");
    append_int(text, *p.timestamp);
  }
  text.push_back('}');
  if (!dirty_ && !is_changed_[i]) {
    is_changed_[i] = 1;
    changed_.push_back(i);
  }
}

}  // namespace eventstreams
