// The seeded resume scenario: random disconnects (mid-block on the wire too), reconnects with
// the last complete id, and an exact per-partition accounting at the end.
#include "resume_scenario.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include "background_producer.hpp"
#include "sse_client.hpp"
#include "sse_cut.hpp"
#include "stream_checks.hpp"

namespace eventstreams::test {
namespace {

using partition_key = std::pair<std::string, std::int32_t>;

// A block with an id that the client processed: it was complete before the client let go of
// the connection. An event, or an id-only block: the start positions, or a keepalive that
// carries positions moved by records the filter skipped.
struct kept_block {
  std::string id;
  bool event = false;
  bool start = false;  // the first block of its connection
  // Events only:
  std::string data;
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
};

// What the last kept block was, for resume_stats.
enum class id_source { event, start_block, keepalive_block };

// The event's position, from its data's meta (the daemon sets it from the record).
bool to_kept(const sse_event& ev, kept_block& out) {
  auto data = parse_json(ev.data);
  if (!data.is_object() || !data["meta"].is_object())
    return false;
  const auto& meta = data["meta"];
  if (!meta["topic"].is_string() || !meta["partition"].is_number_integer() ||
      !meta["offset"].is_number_integer())
    return false;
  out = {ev.id,
         true,
         false,
         ev.data,
         meta["topic"].get<std::string>(),
         meta["partition"].get<std::int32_t>(),
         meta["offset"].get<std::int64_t>()};
  return ev.type == "message" && ev.has_id;
}

}  // namespace

resume_stats& resume_stats::operator+=(const resume_stats& o) {
  resumes += o.resumes;
  from_event += o.from_event;
  from_start_block += o.from_start_block;
  from_keepalive_block += o.from_keepalive_block;
  return *this;
}

void run_resume_scenario(const resume_scenario& s, resume_stats* stats) {
  std::mt19937_64 rng(s.seed);
  std::ostringstream log;  // transcript of the connections, for failure messages
  log << "seed " << s.seed << ", stream " << s.stream
      << (s.filter.empty() ? "" : ", filter " + s.filter) << "\n";
  ASSERT_EQ(s.filter.empty(), !s.matches) << "a filter goes with its `matches`";
  const auto matches = [&](const produced_record& r) { return !s.matches || s.matches(r); };

  std::vector<topic_partition_ref> all;
  for (const auto& t : s.topics) {
    for (std::int32_t p = 0; p < s.partitions; ++p)
      all.push_back({t, p});
  }
  // Half the runs write to a few partitions only until the first disconnect: the others have
  // no event before it, so their positions in the ids are the ends resolved at connect.
  auto early = all;
  const bool partial = rng() % 2 == 0;
  if (partial) {
    std::shuffle(early.begin(), early.end(), rng);
    early.resize(1 + rng() % 3);
    log << "early records go to " << early.size() << " partitions only\n";
  }
  background_producer producer(s.bootstrap, early, rng(), std::chrono::microseconds(1500));

  const std::string target =
      "/v2/stream/" + s.stream + (s.filter.empty() ? "" : "?filter=" + s.filter);
  std::vector<kept_block> kept;
  std::string last_id;
  id_source last_source = id_source::event;
  resume_stats counted;
  std::size_t after_first_head = 0;
  std::size_t next_port = rng() % s.ports.size();
  const auto connect = [&](const header_list& headers) {
    auto port = s.ports[next_port++ % s.ports.size()];
    log << "port " << port << (headers.empty() ? " without id" : " with id");
    if (!headers.empty()) {
      ++counted.resumes;
      ++(last_source == id_source::event         ? counted.from_event
         : last_source == id_source::start_block ? counted.from_start_block
                                                 : counted.from_keepalive_block);
    }
    return open_stream(port, target, headers);
  };
  // The client's view of a connection's body: its blocks with an id, in order. The test's own
  // parse must agree with the client's.
  const auto blocks_of = [&](const sse_client& c) {
    auto blocks = blocks_with_id(c.body());
    const auto events = static_cast<std::size_t>(
        std::count_if(blocks.begin(), blocks.end(), [](const sse_block& b) { return b.event; }));
    EXPECT_EQ(events, c.events().size()) << describe(c);
    EXPECT_EQ(blocks.size() - events, c.id_blocks().size()) << describe(c);
    return blocks;
  };
  const auto keep_blocks = [&](const sse_client& c, const std::vector<sse_block>& blocks,
                               std::size_t count) {
    std::size_t events = 0, id_only = 0;
    for (std::size_t i = 0; i < count; ++i) {
      kept_block k;
      if (blocks[i].event ? events == c.events().size() : id_only == c.id_blocks().size()) {
        ADD_FAILURE() << "the client parsed fewer blocks than the test: " << describe(c) << "\n"
                      << log.str();
        return false;
      }
      if (blocks[i].event) {
        if (!to_kept(c.events()[events], k)) {
          ADD_FAILURE() << "not a message event: " << c.events()[events].data << "\n" << log.str();
          return false;
        }
        ++events;
      } else {
        k.id = c.id_blocks()[id_only++];
      }
      k.start = i == 0;
      kept.push_back(std::move(k));
    }
    if (count > 0) {
      last_id = kept.back().id;
      last_source = kept.back().event   ? id_source::event
                    : kept.back().start ? id_source::start_block
                                        : id_source::keepalive_block;
    }
    return true;
  };

  const int reconnects = 2 + static_cast<int>(rng() % 3);
  for (int n = 0; n <= reconnects; ++n) {
    header_list headers;
    if (!last_id.empty())
      headers.emplace_back("Last-Event-ID", last_id);
    log << "connection " << n << ": ";
    // With a filter, the last of these connections ends right after a keepalive's id-only
    // block, so that every filtered run resumes from one (the random cuts alone may not).
    const bool after_keepalive = !s.filter.empty() && n == reconnects;
    if (n > 0 && !after_keepalive && rng() % 5 == 0) {
      // Gone before the answer, while the daemon resolves the positions.
      sse_client c(s.ports[next_port++ % s.ports.size()]);
      c.send_request("GET", target, headers);
      c.close();
      log << "left before the response\n";
      continue;
    }
    std::unique_ptr<sse_client> c;
    try {
      c = connect(headers);
    } catch (const std::exception& e) {
      FAIL() << e.what() << "\n" << log.str();
    }
    if (n == 0)
      after_first_head = producer.produced() + 1;
    // The first connection keeps at least its start block: from then on the client has an id.
    const std::size_t min_keep = n == 0 ? 1 : 0;
    const std::size_t want = min_keep + rng() % 25;
    // The producer writes a record every 1.5 ms: 25 blocks arrive in well under a second (with
    // a filter on one group of background_producer, events come in bursts of 16 records every
    // 192 ms, keepalives between them); 20 s only ends a failing run (as the 30 s of the last
    // connection below).
    // A keepalive's id-only block: one after the connection's start block.
    const auto first_keepalive = [](const std::vector<sse_block>& blocks) {
      for (std::size_t i = 1; i < blocks.size(); ++i) {
        if (!blocks[i].event)
          return i;
      }
      return std::size_t{0};
    };
    ASSERT_TRUE(c->read_until(
        [&](const sse_client& r) {
          if (after_keepalive)
            return first_keepalive(blocks_with_id(r.body())) > 0;
          return r.events().size() + r.id_blocks().size() >= want;
        },
        20s))
        << describe(*c) << "\n"
        << log.str();
    const auto blocks = blocks_of(*c);
    ASSERT_EQ(body_byte_positions(c->raw(), c->head_size()).size(), c->body().size())
        << describe(*c);
    auto where = after_keepalive ? cut_after(*c, blocks, first_keepalive(blocks) + 1)
                                 : choose_cut(*c, blocks, rng, min_keep);
    c->close();
    log << ", read " << c->events().size() << " events and " << c->id_blocks().size()
        << " id-only blocks, " << where.how << "\n";
    if (!keep_blocks(*c, blocks, where.keep))
      return;
    if (n == 0 && partial)
      producer.set_targets(all);  // while the client is away
  }
  ASSERT_TRUE(producer.stop()) << log.str();
  const auto& records = producer.records();

  // Where every partition starts: the first connection's start block (the ends resolved at
  // its connect).
  ASSERT_FALSE(kept.empty());
  ASSERT_FALSE(kept[0].event) << "a stream's first block with an id is its start block: "
                              << kept[0].data << "\n"
                              << log.str();
  auto first_id = parse_json(kept[0].id);
  ASSERT_TRUE(first_id.is_array()) << kept[0].id;
  std::vector<position> start;
  for (const auto& e : first_id) {
    start.push_back({e.value("topic", ""), e.value("partition", std::int32_t{-1}),
                     e.value("offset", std::int64_t{-1}), std::nullopt});
  }
  ASSERT_EQ(start.size(), all.size()) << kept[0].id;
  // Per partition: the record at each offset, and the offsets of those the filter lets through.
  std::map<partition_key, std::map<std::int64_t, std::size_t>> by_offset;
  std::map<partition_key, std::set<std::int64_t>> matching;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const partition_key key{records[i].topic, records[i].partition};
    by_offset[key][records[i].offset] = i;
    if (matches(records[i]))
      matching[key].insert(records[i].offset);
  }
  // Nothing lost at the start: records handed to Kafka after the first 200 lie at or after it.
  for (std::size_t i = after_first_head; i < records.size(); ++i) {
    int idx = find_position(start, records[i].topic, records[i].partition);
    ASSERT_GE(idx, 0) << records[i].topic;
    ASSERT_GE(records[i].offset, start[static_cast<std::size_t>(idx)].offset)
        << "record " << i << " produced after the first response is before the start of "
        << records[i].topic << "/" << records[i].partition << "\n"
        << log.str();
  }
  // Where each partition ends, and how many events the client must get in all.
  std::map<partition_key, std::int64_t> high;
  std::size_t expected = 0;
  for (const auto& p : start) {
    const partition_key key{p.topic, p.partition};
    const auto& offsets = by_offset[key];
    auto h = offsets.empty() ? p.offset : std::max(p.offset, offsets.rbegin()->first + 1);
    high[key] = h;
    const auto& m = matching[key];
    expected += static_cast<std::size_t>(std::distance(m.lower_bound(p.offset), m.lower_bound(h)));
  }
  log << records.size() << " records produced, " << expected << " of them after the start"
      << (s.filter.empty() ? "" : " and matching") << "\n";
  const auto kept_events = static_cast<std::size_t>(
      std::count_if(kept.begin(), kept.end(), [](const kept_block& k) { return k.event; }));
  ASSERT_LE(kept_events, expected)
      << "more events than records (that match): duplicates, or records the filter "
         "does not let through\n"
      << log.str();

  // The rest, on one last connection.
  {
    log << "last connection: ";
    std::unique_ptr<sse_client> c;
    try {
      c = connect({{"Last-Event-ID", last_id}});
    } catch (const std::exception& e) {
      FAIL() << e.what() << "\n" << log.str();
    }
    const std::size_t rest = expected - kept_events;
    bool complete = c->read_events(rest, 30s);
    log << ", read " << c->events().size() << " of " << rest << " events\n";
    const auto blocks = blocks_of(*c);
    if (!keep_blocks(*c, blocks, blocks.size()))
      return;
    EXPECT_TRUE(complete) << describe(*c);
  }
  if (stats != nullptr)
    *stats += counted;

  // Per partition: exactly the matching records from the start on, in order, each once, with
  // its data; and every id, across every reconnection, at positions that skip no matching
  // record not yet delivered, never going back, with the timestamp of the record before each.
  // `model`: per partition, the least offset the next event or id may hold.
  auto model = start;
  for (std::size_t i = 0; i < kept.size(); ++i) {
    const auto& k = kept[i];
    int own = -1;
    if (k.event) {
      own = find_position(model, k.topic, k.partition);
      ASSERT_GE(own, 0) << k.topic << "/" << k.partition << " is not in the id\n" << log.str();
      auto& pos = model[static_cast<std::size_t>(own)];
      const auto& m = matching[{k.topic, k.partition}];
      const auto next = m.lower_bound(pos.offset);
      const std::int64_t due = next == m.end() ? -1 : *next;
      ASSERT_EQ(k.offset, due) << "event " << i << " is " << k.topic << "/" << k.partition << "@"
                               << k.offset << ", the next matching record is at " << due << ": "
                               << (k.offset < pos.offset        ? "duplicate"
                                   : due >= 0 && k.offset > due ? "gap"
                                   : by_offset[{k.topic, k.partition}].contains(k.offset)
                                       ? "a record the filter does not let through"
                                       : "no such record")
                               << "\n"
                               << log.str();
      const auto& rec = records[by_offset[{k.topic, k.partition}].at(k.offset)];
      ASSERT_EQ(parse_json(k.data), expected_data(rec)) << log.str();
      pos.offset = k.offset + 1;
    }
    const auto id = parse_json(k.id);
    ASSERT_TRUE(id.is_array() && id.size() == model.size())
        << (k.event ? "event " : "id-only block ") << i << ": " << k.id << "\n"
        << log.str();
    for (std::size_t j = 0; j < model.size(); ++j) {
      const auto& e = id[j];
      auto& pos = model[j];
      const partition_key key{pos.topic, pos.partition};
      const auto offset = e.value("offset", std::int64_t{-1});
      const auto where = [&] {
        return std::string(k.event ? "event " : "id-only block ") + std::to_string(i) + ", " +
               pos.topic + "/" + std::to_string(pos.partition) + ": " + k.id + "\n" + log.str();
      };
      ASSERT_EQ(e.value("topic", ""), pos.topic) << where();
      ASSERT_EQ(e.value("partition", std::int32_t{-1}), pos.partition) << where();
      if (own == static_cast<int>(j)) {
        ASSERT_EQ(offset, pos.offset) << "not right after the event: " << where();
      }
      ASSERT_GE(offset, pos.offset) << "the position goes back: " << where();
      ASSERT_LE(offset, high[key]) << "past the end: " << where();
      const auto& m = matching[key];
      const auto skipped = m.lower_bound(pos.offset);
      ASSERT_FALSE(skipped != m.end() && *skipped < offset)
          << "past the matching record at " << *skipped << ", never delivered: " << where();
      if (offset > start[j].offset) {
        const auto& before = records[by_offset[key].at(offset - 1)];
        ASSERT_EQ(e.value("timestamp", std::int64_t{-1}), before.timestamp) << where();
      } else {
        ASSERT_FALSE(e.contains("timestamp")) << "no record read yet: " << where();
      }
      pos.offset = offset;
    }
  }
  for (const auto& p : model) {
    const auto& m = matching[{p.topic, p.partition}];
    const auto missing = m.lower_bound(p.offset);
    const partition_key key{p.topic, p.partition};
    EXPECT_FALSE(missing != m.end() && *missing < high[key])
        << p.topic << "/" << p.partition << " incomplete: the record at " << *missing
        << " never came\n"
        << log.str();
  }
}

}  // namespace eventstreams::test
