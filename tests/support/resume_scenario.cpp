// The seeded resume scenario: random disconnects (mid-event on the wire too), reconnects with
// the last complete id, and an exact per-partition accounting at the end.
#include "resume_scenario.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <sstream>

#include "background_producer.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"

namespace eventstreams::test {
namespace {

using partition_key = std::pair<std::string, std::int32_t>;

// An event the client processed: it was complete before the client let go of the connection.
struct kept_event {
  std::string id;
  std::string data;
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
};

// Where each byte of the decoded (chunked) body lies in `raw`, for the body received so far.
std::vector<std::size_t> body_byte_positions(const std::string& raw, std::size_t pos) {
  std::vector<std::size_t> out;
  while (true) {
    auto eol = raw.find("\r\n", pos);
    if (eol == std::string::npos)
      break;
    auto size = std::stoull(raw.substr(pos, eol - pos), nullptr, 16);
    if (size == 0)
      break;
    pos = eol + 2;
    for (std::size_t i = 0; i < size && pos + i < raw.size(); ++i)
      out.push_back(pos + i);
    pos += size + 2;
    if (pos > raw.size())
      break;
  }
  return out;
}

// [begin, end) of each complete event in an SSE body; comment blocks (":ok", ":") are skipped.
struct block {
  std::size_t begin = 0;
  std::size_t end = 0;
};
std::vector<block> event_blocks(const std::string& body) {
  std::vector<block> out;
  std::size_t pos = 0;
  while (true) {
    auto blank = body.find("\n\n", pos);
    if (blank == std::string::npos)
      break;
    // Comments (':') and id-only blocks ("id: …" with no data) fire no event.
    if (body[pos] != ':' && body.compare(pos, 4, "id: ") != 0)
      out.push_back({pos, blank + 2});
    pos = blank + 2;
  }
  return out;
}

struct cut {
  std::size_t keep = 0;       // complete events before the cut
  std::size_t raw_bytes = 0;  // the cut, in bytes of the response as received
  std::string how;
};

// Where the client pretends its connection broke. It has received at least `raw_bytes` bytes;
// only the events complete within them count, as for a client whose socket died there.
cut choose_cut(const sse_client& c, std::mt19937_64& rng, std::size_t min_keep) {
  const auto blocks = event_blocks(c.body());
  const auto pos = body_byte_positions(c.raw(), c.head_size());
  const std::size_t n = blocks.size();
  const auto raw_after = [&](std::size_t keep) {
    return keep == 0 ? c.head_size() : pos[blocks[keep - 1].end - 1] + 1;
  };
  switch (rng() % 4) {
    case 0:
    case 1:
      if (n > min_keep) {
        // Inside event j: at least its first byte arrived, its final '\n' did not.
        std::size_t j = min_keep + rng() % (n - min_keep);
        std::size_t lo = pos[blocks[j].begin] + 1, hi = pos[blocks[j].end - 1];
        std::size_t at = lo + rng() % (hi - lo + 1);
        return {j, at, "cut at byte " + std::to_string(at) + " inside event " + std::to_string(j)};
      }
      [[fallthrough]];
    case 2: {
      std::size_t keep = min_keep + rng() % (n - min_keep + 1);
      return {keep, raw_after(keep), "cut after event " + std::to_string(keep)};
    }
    default:
      return {n, c.raw().size(), "closed after all " + std::to_string(n) + " received"};
  }
}

// The event's position, from its data's meta (the daemon sets it from the record).
bool to_kept(const sse_event& ev, kept_event& out) {
  auto data = parse_json(ev.data);
  if (!data.is_object() || !data["meta"].is_object())
    return false;
  const auto& meta = data["meta"];
  if (!meta["topic"].is_string() || !meta["partition"].is_number_integer() ||
      !meta["offset"].is_number_integer())
    return false;
  out = {ev.id, ev.data, meta["topic"].get<std::string>(), meta["partition"].get<std::int32_t>(),
         meta["offset"].get<std::int64_t>()};
  return ev.type == "message" && ev.has_id;
}

}  // namespace

void run_resume_scenario(const resume_scenario& s) {
  std::mt19937_64 rng(s.seed);
  std::ostringstream log;  // transcript of the connections, for failure messages
  log << "seed " << s.seed << ", stream " << s.stream << "\n";

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

  const std::string target = "/v2/stream/" + s.stream;
  std::vector<kept_event> kept;
  std::string last_id;
  std::size_t after_first_head = 0;
  std::size_t next_port = rng() % s.ports.size();
  const auto connect = [&](const header_list& headers) {
    auto port = s.ports[next_port++ % s.ports.size()];
    log << "port " << port << (headers.empty() ? " without id" : " with id");
    return open_stream(port, target, headers);
  };
  const auto keep_events = [&](const sse_client& c, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
      kept_event k;
      if (!to_kept(c.events()[i], k)) {
        ADD_FAILURE() << "not a message event: " << c.events()[i].data << "\n" << log.str();
        return false;
      }
      kept.push_back(std::move(k));
    }
    if (count > 0)
      last_id = c.events()[count - 1].id;
    return true;
  };

  const int reconnects = 2 + static_cast<int>(rng() % 3);
  for (int n = 0; n <= reconnects; ++n) {
    header_list headers;
    if (!last_id.empty())
      headers.emplace_back("Last-Event-ID", last_id);
    log << "connection " << n << ": ";
    if (n > 0 && rng() % 5 == 0) {
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
    const std::size_t min_keep = n == 0 ? 1 : 0;  // a client without any id cannot resume
    const std::size_t want = min_keep + rng() % 25;
    // The producer writes an event every 1.5 ms: 25 arrive in well under a second; 20 s only
    // ends a failing run (as the 30 s of the last connection below).
    ASSERT_TRUE(c->read_events(want, 20s)) << describe(*c) << "\n" << log.str();
    // The test's own view of the body must agree with the client's before it picks a cut.
    ASSERT_EQ(event_blocks(c->body()).size(), c->events().size()) << describe(*c);
    ASSERT_EQ(body_byte_positions(c->raw(), c->head_size()).size(), c->body().size())
        << describe(*c);
    auto where = choose_cut(*c, rng, min_keep);
    c->close();
    log << ", read " << c->events().size() << " events, " << where.how << "\n";
    if (!keep_events(*c, where.keep))
      return;
    if (n == 0 && partial)
      producer.set_targets(all);  // while the client is away
  }
  ASSERT_TRUE(producer.stop()) << log.str();
  const auto& records = producer.records();
  log << records.size() << " records produced\n";

  // The start of every partition: the first event's id (the end resolved at the first connect;
  // its own partition's entry is already past it).
  ASSERT_FALSE(kept.empty());
  auto first_id = parse_json(kept[0].id);
  ASSERT_TRUE(first_id.is_array()) << kept[0].id;
  std::vector<position> model;
  for (const auto& e : first_id) {
    position p{e.value("topic", ""), e.value("partition", std::int32_t{-1}),
               e.value("offset", std::int64_t{-1}), std::nullopt};
    if (p.topic == kept[0].topic && p.partition == kept[0].partition)
      p.offset = kept[0].offset;
    model.push_back(p);
  }
  ASSERT_EQ(model.size(), all.size()) << kept[0].id;
  std::map<partition_key, std::map<std::int64_t, std::size_t>> by_offset;
  for (std::size_t i = 0; i < records.size(); ++i)
    by_offset[{records[i].topic, records[i].partition}][records[i].offset] = i;
  // Nothing lost at the start: records handed to Kafka after the first 200 lie at or after it.
  for (std::size_t i = after_first_head; i < records.size(); ++i) {
    int idx = find_position(model, records[i].topic, records[i].partition);
    ASSERT_GE(idx, 0) << records[i].topic;
    ASSERT_GE(records[i].offset, model[static_cast<std::size_t>(idx)].offset)
        << "record " << i << " produced after the first response is before the start of "
        << records[i].topic << "/" << records[i].partition << "\n"
        << log.str();
  }
  std::map<partition_key, std::int64_t> high;
  std::size_t expected = 0;
  for (const auto& p : model) {
    const auto& offsets = by_offset[{p.topic, p.partition}];
    auto h = offsets.empty() ? p.offset : std::max(p.offset, offsets.rbegin()->first + 1);
    high[{p.topic, p.partition}] = h;
    expected += static_cast<std::size_t>(h - p.offset);
  }
  ASSERT_LE(kept.size(), expected) << "more events than records: duplicates\n" << log.str();

  // The rest, on one last connection.
  {
    log << "last connection: ";
    std::unique_ptr<sse_client> c;
    try {
      c = connect({{"Last-Event-ID", last_id}});
    } catch (const std::exception& e) {
      FAIL() << e.what() << "\n" << log.str();
    }
    const std::size_t rest = expected - kept.size();
    bool complete = c->read_events(rest, 30s);
    log << ", read " << c->events().size() << " of " << rest << " events\n";
    if (!keep_events(*c, c->events().size()))
      return;
    EXPECT_TRUE(complete) << describe(*c);
  }

  // Per partition: exactly the records from the start on, in order, each once, with its data
  // and an id that continues across every reconnection.
  for (std::size_t i = 0; i < kept.size(); ++i) {
    const auto& ev = kept[i];
    int idx = find_position(model, ev.topic, ev.partition);
    ASSERT_GE(idx, 0) << ev.topic << "/" << ev.partition << " is not in the id\n" << log.str();
    auto& pos = model[static_cast<std::size_t>(idx)];
    ASSERT_EQ(ev.offset, pos.offset) << "event " << i << " of " << ev.topic << "/" << ev.partition
                                     << (ev.offset > pos.offset ? ": gap" : ": duplicate") << "\n"
                                     << log.str();
    const auto& offsets = by_offset[{ev.topic, ev.partition}];
    auto rec = offsets.find(ev.offset);
    ASSERT_NE(rec, offsets.end()) << "no record was produced at " << ev.topic << "/" << ev.partition
                                  << "@" << ev.offset << "\n"
                                  << log.str();
    ASSERT_EQ(parse_json(ev.data), expected_data(records[rec->second])) << log.str();
    pos.offset = ev.offset + 1;
    pos.timestamp = records[rec->second].timestamp;
    ASSERT_TRUE(id_equals(ev.id, model)) << "event " << i << "\n" << log.str();
  }
  for (const auto& p : model) {
    EXPECT_EQ(p.offset, (high[{p.topic, p.partition}]))
        << p.topic << "/" << p.partition << " incomplete\n"
        << log.str();
  }
}

}  // namespace eventstreams::test
