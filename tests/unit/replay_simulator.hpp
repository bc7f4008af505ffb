// A sans-io simulator of the shared mode's resume path (docs/api.md §11, "Delivery modes"): a
// hub appends records to partition rings (holes, records that are not JSON, canaries, out of
// order timestamps) and evicts under tiny bounds; resumed clients, some with a filter, join at
// chosen positions, catch up from the rings through replay_from_rings (the code the hub runs) at
// chosen speeds, windows and slices, then read live, stepped by the hub as it appends. A client
// whose start the rings do not hold reads the log itself (a catch-up reader) and is handed over
// to a cohort at its positions once the rings hold them: as soon as they hold every one with
// room (anywhere in the log), or at its end. Half the readers read from the rings, meanwhile,
// the partitions they hold (feed_from_ring, the code the hub runs for split_source), in any
// order with the others, and go back to the log for a partition the rings lose first: their
// bytes are checked per partition (every record once, in offset order) until the hand-over,
// and byte for byte against F from the hand-over's positions after it.
//
// After every step, each client's bytes must be a prefix of F's: stream_format applied to
// every record of its partitions at or after its start, in the hub's order. At the end (the
// hub stops appending, every client reads what is left), a client's bytes equal F's and its
// positions F's; a client whose next record the rings evicted (lapped) ended at an event
// boundary with a prefix, and only when a ring's oldest record really lies past its position.
//
// The choices come from a `choices`: a seeded engine (the unit test's 10,000 seeds), an
// enumeration of every sequence within a small scope, or a fuzzer's bytes (fuzz/fuzz_replay.cpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "eventstreams/cohort.hpp"
#include "eventstreams/filter.hpp"
#include "eventstreams/partition_ring.hpp"
#include "eventstreams/stream_format.hpp"

namespace eventstreams::test {

// Where the simulator's choices come from.
class choices {
 public:
  virtual ~choices() = default;
  // A value in [0, n), n >= 1.
  virtual unsigned pick(unsigned n) = 0;
};

// Every sequence of choices in turn, depth first: run the simulation, then next(), until it
// returns false. The simulation must be deterministic given its choices.
class enumerated_choices final : public choices {
 public:
  unsigned pick(unsigned n) override {
    if (at_ < trail_.size())
      return trail_[at_++].first;
    trail_.emplace_back(0, n);
    ++at_;
    return 0;
  }
  bool next() {
    at_ = 0;
    while (!trail_.empty()) {
      auto& [choice, n] = trail_.back();
      if (choice + 1 < n) {
        ++choice;
        return true;
      }
      trail_.pop_back();
    }
    return false;
  }

 private:
  std::vector<std::pair<unsigned, unsigned>> trail_;
  std::size_t at_ = 0;
};

// How large a simulation may get, and how many values each kind of choice may take (an
// exhaustive small scope keeps them few).
struct replay_scope {
  unsigned max_partitions = 3;
  unsigned steps = 40;
  unsigned max_batch = 6;
  unsigned max_clients = 4;
  unsigned alternatives = 4;  // of sizes, windows, timestamps, framing, ...: 1 = the first
  unsigned record_kinds = 4;  // plain, not JSON, canary, after a hole
  unsigned start_kinds = 5;   // ring base, ring head, before the ring, inside, ahead of the hub
  bool subsets = true;        // clients of some of the partitions
  unsigned max_take = 3;      // chunks a client takes at once
  bool pull_at_once = false;  // the hub handles a pull in the step that made it
};

struct replay_report {
  std::string failure;  // empty: every check held
  unsigned clients = 0;
  unsigned from_before_ring = 0;   // starts the rings did not cover (a catch-up reader)
  unsigned handed_over = 0;        // of those, readers the hub took over at their positions
  unsigned handed_over_early = 0;  // ... before they had read the whole log
  unsigned feeding = 0;            // readers that read from the rings the partitions they hold
  unsigned fed_partitions = 0;     // partitions they read from the rings
  unsigned lost_partitions = 0;    // ... that went back to the log
  std::uint64_t fed_records = 0;   // records they read from the rings
  unsigned caught_up = 0;
  unsigned lapped = 0;
  unsigned filtered = 0;  // clients with a filter
  std::uint64_t replayed = 0;
  std::uint64_t places_used = 0;  // replay calls' positions found again from a kept place
};

namespace replay_sim {

struct client {
  std::unique_ptr<cohort> c;
  std::shared_ptr<const filter::compiled> filter;  // null: none
  std::vector<std::size_t> parts;                  // position i -> partition
  std::optional<stream_format> reference;
  std::string expected;  // F's bytes for the records so far
  std::shared_ptr<const framed_chunk> cursor;
  std::string got;
  std::uint64_t window = 0;
  std::size_t slice = 0;
  // Half the clients (by cohort id) keep where their cursors stopped from one replay call to the
  // next, as the hub does (ring_place); the others search the rings at every call.
  bool keeps_places = false;
  std::vector<ring_place> places;
  std::optional<std::uint64_t> pull;  // a pull the hub has not handled yet: consumed bytes
  bool replaying = true;
  // A start the rings did not cover: a catch-up reader (Kafka: here the log) frames the records
  // itself, at its own speed; at the end of the log it asks the hub to take over at its
  // positions, which it does where the rings hold them (sse_session's hand-over).
  std::optional<stream_format> reader;
  std::size_t log_at = 0;  // the next record of the log it reads
  bool probes = true;      // it asks for the hand-over before the end of the log
  // A reader that reads from the rings the partitions they hold (split_source): per position,
  // whether the rings feed it, where the hub's feed of it is, and what the hub queued.
  bool feeds = false;
  std::vector<bool> fed;
  std::vector<std::int64_t> feed_next;
  std::vector<bool> feeding;  // the hub feeds it (until it found it lost)
  struct fed_item {
    std::size_t i = 0;
    std::optional<ring_cursor> rec;  // none: lost at `lost_at`
    std::int64_t lost_at = 0;
  };
  std::deque<fed_item> queue;
  std::size_t queued_bytes = 0;
  std::size_t feed_window = 64;
  std::vector<std::size_t> log_at_part;          // per position: the next log index it reads
  std::vector<std::vector<std::int64_t>> taken;  // per position: the offsets its stream took
  std::vector<std::int64_t> start;               // per position: where it started
  framing f = framing::sse;
  std::vector<bool> pass;
  bool lapped = false;
};

struct record {
  std::size_t part;
  std::int64_t offset;
  std::int64_t timestamp;
  bool json;
  bool canary;
  std::string data;
};

class simulation {
 public:
  simulation(choices& ch, const replay_scope& scope) : ch_(ch), scope_(scope) {}

  replay_report run() {
    const unsigned partitions = 1 + pick(scope_.max_partitions);
    const std::size_t chunk_bytes = alt<std::size_t>({16, 64, 1, 4096});
    max_ring_bytes_ = alt<std::size_t>({100, 1u << 20, 40, 300});
    for (unsigned p = 0; p < partitions; ++p) {
      const std::int64_t base = alt<std::int64_t>({0, 5});
      rings_.emplace_back(base, chunk_bytes);
      next_offset_.push_back(base);
    }
    for (unsigned s = 0; s < scope_.steps && report_.failure.empty(); ++s) {
      switch (pick(scope_.pull_at_once ? 3 : 4)) {
        case 0:
          append_batch();
          break;
        case 1:
          if (clients_.size() < scope_.max_clients)
            join();
          else
            append_batch();
          break;
        case 2:
          take();
          if (scope_.pull_at_once)
            handle_pulls();
          break;
        case 3:
          handle_pulls();
          break;
      }
      check_prefixes();
    }
    finish();
    return report_;
  }

 private:
  unsigned pick(unsigned n) { return n <= 1 ? 0 : ch_.pick(n); }
  // One of the first scope.alternatives values (the first is the common case).
  template <class T>
  T alt(std::initializer_list<T> values) {
    auto n = std::min<unsigned>(scope_.alternatives, static_cast<unsigned>(values.size()));
    return values.begin()[pick(n)];
  }

  void fail(std::string why) {
    if (report_.failure.empty())
      report_.failure = std::move(why);
  }

  void append_batch() {
    const unsigned n = 1 + pick(scope_.max_batch);
    for (unsigned k = 0; k < n; ++k) {
      record r;
      r.part = pick(static_cast<unsigned>(rings_.size()));
      const unsigned kind = pick(scope_.record_kinds);
      r.offset = next_offset_[r.part];
      if (kind == 3)
        r.offset += alt<std::int64_t>({1, 2, 5});  // a hole: compaction, transaction markers
      r.timestamp = alt<std::int64_t>({1000 + static_cast<std::int64_t>(seq_), -1, 7, 999999});
      r.json = kind != 1;
      r.canary = kind == 2;
      if (r.json)
        r.data = "{\"n\":" + std::to_string(seq_) + "}";
      const std::uint8_t flags =
          (r.json ? 0 : ring_flag::not_json) | (r.canary ? ring_flag::canary : 0);
      if (!rings_[r.part].append(++seq_, r.offset, r.timestamp, flags, r.data))
        return fail("the ring refused a record in order");
      next_offset_[r.part] = r.offset + 1;
      log_.push_back(r);
      for (auto& cl : clients_) {
        feed_reference(cl, r);
        // The hub's drain: live cohorts are stepped with each record of their partitions.
        if (!cl.replaying && !cl.lapped) {
          for (std::size_t i = 0; i < cl.parts.size(); ++i) {
            if (cl.parts[i] == r.part)
              step_live(cl, r, i);
          }
        }
      }
    }
    // The hub's after_batch: seal, evict, publish the live cohorts' batches.
    std::vector<std::shared_ptr<const ring_chunk>> published;
    ++now_;
    for (auto& ring : rings_) {
      ring.seal(now_, published);
      ring.evict(now_, max_ring_bytes_, 1'000'000);
      if (auto bad = ring.check(); !bad.empty())
        return fail("ring: " + bad);
    }
    for (auto& cl : clients_) {
      if (!cl.replaying && !cl.lapped)
        cl.c->publish();
    }
  }

  // A filtered cohort is stepped with the records its filter matches; the others move its
  // position (the hub moves it to its head before the next event, which is the same).
  static void step_live(client& cl, const record& r, std::size_t i) {
    if (!cl.filter)
      return cl.c->step(spliced(r, i));
    const auto& at = cl.c->positions().at(i);
    filter::scratch work;
    if (r.json &&
        cl.filter->matches({r.data, at.topic, at.partition, r.offset, r.timestamp, {}}, work))
      return cl.c->step(spliced(r, i));
    cl.c->skip_to(i, r.offset + 1, r.timestamp >= 0 ? std::optional(r.timestamp) : std::nullopt, 1);
  }

  // Matches some records and not others: by the record's number (its seq) and partition.
  static std::shared_ptr<const filter::compiled> some_records() {
    static const auto compiled = [] {
      const std::vector<std::string> clauses{"n<8|n>=16;n<24|$partition=0;n!=40,41,42"};
      return filter::compile(clauses, filter::limits{}).filter;
    }();
    return compiled;
  }

  static spliced_record spliced(const record& r, std::size_t index) {
    spliced_record s;
    s.index = index;
    s.offset = r.offset;
    s.timestamp = r.timestamp;
    s.json = r.json;
    s.canary = r.canary;
    s.data = r.data;
    return s;
  }

  // F: every record of the client's partitions at or after its position, in the hub's order.
  static void feed_reference(client& cl, const record& r) {
    for (std::size_t i = 0; i < cl.parts.size(); ++i) {
      if (cl.parts[i] != r.part || r.offset < cl.reference->positions().at(i).next_offset)
        continue;
      cl.reference->record(spliced(r, i), cl.expected);
    }
  }

  void join() {
    client cl;
    std::vector<partition_position> start;
    for (std::size_t p = 0; p < rings_.size(); ++p) {
      if (scope_.subsets && p > 0 && pick(3) == 0)
        continue;  // a stream of some of the partitions
      const auto& ring = rings_[p];
      const auto span = static_cast<unsigned>(ring.head() - ring.base());
      std::int64_t x = 0;
      switch (pick(scope_.start_kinds)) {
        case 0:
          x = ring.base();
          break;
        case 1:
          x = ring.head();
          break;
        case 2:
          x = std::max<std::int64_t>(0, ring.base() - 1 - pick(3));  // maybe before the ring
          break;
        case 3:
          x = ring.base() + pick(span + 1);
          break;
        default:
          x = ring.head() + 1 + pick(3);  // ahead of the hub (another instance's id)
          break;
      }
      std::optional<std::int64_t> ts;
      if (alt({false, true}))
        ts = 500 + pick(3);
      start.push_back({"t", static_cast<std::int32_t>(p), x, ts});
      cl.parts.push_back(p);
    }
    ++report_.clients;
    for (std::size_t i = 0; i < start.size(); ++i)
      cl.pass.push_back(alt({false, true}));
    cl.f = alt({framing::sse, framing::ndjson});
    if (alt({false, true})) {
      cl.filter = some_records();
      if (!cl.filter)
        return fail("the simulator's filter does not compile");
      ++report_.filtered;
    }
    cl.reference.emplace(cl.f, position_vector(start), cl.pass, cl.filter);
    cl.window = alt<std::uint64_t>({64, 1, 4096, 16});
    cl.slice = alt<std::size_t>({16, 1, 4096, 64});
    // The hub's check: every position inside a ring, else a catch-up reader serves it.
    bool before = false;
    for (std::size_t i = 0; i < start.size(); ++i)
      before = before ||
               rings_[cl.parts[i]].find(start[i].next_offset).status == ring_lookup::before_ring;
    if (before) {
      ++report_.from_before_ring;
      cl.reader.emplace(cl.f, position_vector(start), cl.pass, cl.filter);
      cl.probes = alt({true, false});
      cl.feeds = cl.probes && alt({false, true});
      if (cl.feeds) {
        cl.fed.assign(start.size(), false);
        cl.feeding.assign(start.size(), false);
        cl.feed_next.assign(start.size(), 0);
        cl.log_at_part.assign(start.size(), 0);
        cl.taken.resize(start.size());
        for (const auto& x : start)
          cl.start.push_back(x.next_offset);
        cl.feed_window = alt<std::size_t>({64, 1, 4096});
        ++report_.feeding;
      }
      for (const auto& r : log_)
        feed_reference(cl, r);
      clients_.push_back(std::move(cl));
      return;
    }
    cl.c = std::make_unique<cohort>(++cohorts_, cl.f, false, position_vector(start), cl.pass);
    cl.keeps_places = cohorts_ % 2 == 0;
    cl.cursor = cl.c->tail();
    for (const auto& r : log_)
      feed_reference(cl, r);
    clients_.push_back(std::move(cl));
    replay(clients_.back(), 0);  // the hub replays at once, at the join
  }

  void replay(client& cl, std::uint64_t consumed) {
    std::vector<const partition_ring*> rings;
    for (auto p : cl.parts)
      rings.push_back(&rings_[p]);
    std::vector<std::shared_ptr<const framed_chunk>> published;
    // A kept place answers what a search answers, or is not used.
    for (std::size_t i = 0; cl.keeps_places && i < cl.places.size(); ++i) {
      const auto at = cl.c->positions().at(i).next_offset;
      const auto kept = rings[i]->find_from(at, cl.places[i]);
      const auto searched = rings[i]->find(at);
      if (kept.status != searched.status ||
          (kept.status == ring_lookup::found && (kept.cursor.chunk != searched.cursor.chunk ||
                                                 kept.cursor.index != searched.cursor.index)))
        return fail("a kept ring place answers otherwise than a search");
      if (cl.places[i].kept && kept.status == ring_lookup::found)
        ++report_.places_used;
    }
    auto r = replay_from_rings(*cl.c, rings, consumed, cl.window, cl.slice, published,
                               cl.filter.get(), cl.keeps_places ? &cl.places : nullptr);
    report_.replayed += r.stepped;
    // The window: no chunk starts `window` or more beyond what the member took.
    for (const auto& chunk : published) {
      if (chunk->end_bytes - chunk->bytes().size() >= consumed + cl.window)
        fail("the replay ran past the member's window");
    }
    switch (r.result) {
      case ring_replay::outcome::more:
        break;
      case ring_replay::outcome::caught_up:
        cl.replaying = false;
        ++report_.caught_up;
        break;
      case ring_replay::outcome::lapped: {
        bool behind = false;
        for (std::size_t i = 0; i < cl.parts.size(); ++i)
          behind = behind || cl.c->positions().at(i).next_offset < rings_[cl.parts[i]].base();
        if (!behind)
          fail("lapped although every ring holds the client's next record");
        cl.c->fail("overrun", "lapped");
        cl.lapped = true;
        ++report_.lapped;
        break;
      }
    }
  }

  // A client takes a few chunks (a client that reads at its own speed).
  void take() {
    if (clients_.empty())
      return;
    auto& cl = clients_[pick(static_cast<unsigned>(clients_.size()))];
    const unsigned n = 1 + pick(scope_.max_take);
    for (unsigned k = 0; k < n; ++k) {
      if (!take_one(cl))
        return;
    }
  }

  bool take_one(client& cl) {
    if (cl.reader && !cl.c)
      return read_one(cl);
    if (!cl.c)
      return false;
    auto next = cl.cursor->next_shared();
    if (!next)
      return false;
    cl.cursor = next;
    if (!next->error.empty())
      return false;  // the overrun: the member ends here
    cl.got += next->bytes();
    if (next->pull)
      cl.pull = std::max(cl.pull.value_or(0), next->end_bytes);
    return true;
  }

  // The catch-up reader takes the next record of the log: those of its partitions at or after
  // its positions (a consumer assigned there delivers nothing below). It asks for the hand-over
  // once the rings hold every position with room (sse_session's probe, anywhere in the log: the
  // hub then replays the rest), or at the end of the log.
  bool read_one(client& cl) {
    if (cl.feeds)
      return read_split(cl);
    bool room = cl.probes;
    for (std::size_t i = 0; i < cl.parts.size() && room; ++i)
      room = held(cl, i);
    if (room) {
      hand_over(cl);
      if (cl.c)
        return true;
    }
    if (cl.log_at == log_.size()) {
      hand_over(cl);
      return cl.c != nullptr;
    }
    const auto& r = log_[cl.log_at++];
    for (std::size_t i = 0; i < cl.parts.size(); ++i) {
      if (cl.parts[i] == r.part && r.offset >= cl.reader->positions().at(i).next_offset)
        cl.reader->record(spliced(r, i), cl.got);
    }
    return true;
  }

  // The hub's probe for a reader's position i (hub::held): its ring holds it with room.
  bool held(const client& cl, std::size_t i) const {
    const auto& ring = rings_[cl.parts[i]];
    return holds_with_room(ring, cl.reader->positions().at(i).next_offset,
                           ring.bytes() * 2 > max_ring_bytes_);
  }

  // A reader that reads from the rings the partitions they hold: the probe (each partition the
  // rings hold with room goes on from them, and the stream is handed over when they hold all),
  // the hub's feed step, then one record, from the feed or the log as the choice falls.
  bool read_split(client& cl) {
    const auto& at = cl.reader->positions().positions();
    bool all = true;
    for (std::size_t i = 0; i < at.size(); ++i) {
      const bool in_ring = held(cl, i);
      all = all && in_ring;
      if (in_ring && !cl.fed[i]) {
        cl.fed[i] = cl.feeding[i] = true;
        cl.feed_next[i] = at[i].next_offset;
        ++report_.fed_partitions;
      }
    }
    if (all) {
      hand_over(cl);
      if (cl.c)
        return true;
    }
    for (std::size_t i = 0; i < at.size(); ++i) {
      if (!cl.feeding[i])
        continue;
      std::vector<ring_cursor> cursors;
      std::size_t bytes = cl.queued_bytes;
      if (!feed_from_ring(rings_[cl.parts[i]], cl.feed_next[i], cl.feed_window, bytes, cursors)) {
        cl.queue.push_back({i, std::nullopt, cl.feed_next[i]});
        cl.feeding[i] = false;
        continue;
      }
      cl.queued_bytes = bytes;
      for (auto& c : cursors)
        cl.queue.push_back({i, std::move(c), 0});
    }
    // The log's next record for each partition not fed (a consumer's order across partitions
    // is any).
    std::vector<std::size_t> ready;
    for (std::size_t i = 0; i < at.size(); ++i) {
      if (cl.fed[i])
        continue;
      auto& k = cl.log_at_part[i];
      while (k < log_.size() && (log_[k].part != cl.parts[i] || log_[k].offset < at[i].next_offset))
        ++k;
      if (k < log_.size())
        ready.push_back(i);
    }
    if (cl.queue.empty() && ready.empty()) {
      hand_over(cl);  // at the end of the log
      return cl.c != nullptr;
    }
    if (!cl.queue.empty() && (ready.empty() || pick(2) == 0)) {
      auto item = std::move(cl.queue.front());
      cl.queue.pop_front();
      const auto i = item.i;
      if (!item.rec) {
        // Lost: the log again, from the stream's position, which the feed's records reached.
        if (item.lost_at != at[i].next_offset)
          fail("a partition the rings lost goes back to the log elsewhere than its position");
        cl.fed[i] = false;
        cl.log_at_part[i] = 0;
        ++report_.lost_partitions;
        return true;
      }
      const auto rec = item.rec->record();
      cl.queued_bytes -= std::min(cl.queued_bytes, ring_record_bytes(rec));
      spliced_record sr;
      sr.index = i;
      sr.offset = rec.offset;
      sr.timestamp = rec.timestamp;
      sr.json = (rec.flags & ring_flag::not_json) == 0;
      sr.canary = (rec.flags & ring_flag::canary) != 0;
      sr.data = rec.json;
      cl.taken[i].push_back(rec.offset);
      cl.reader->record(sr, cl.got);
      ++report_.fed_records;
      return true;
    }
    const auto i = ready[pick(static_cast<unsigned>(ready.size()))];
    const auto& r = log_[cl.log_at_part[i]++];
    cl.taken[i].push_back(r.offset);
    cl.reader->record(spliced(r, i), cl.got);
    return true;
  }

  // A split reader's check: per position, the offsets its stream took are the first ones of its
  // partition's records from its start, in order (`whole`: all of them).
  void check_taken(const client& cl, std::size_t who, bool whole) {
    for (std::size_t i = 0; i < cl.parts.size(); ++i) {
      std::vector<std::int64_t> want;
      for (const auto& r : log_) {
        if (r.part == cl.parts[i] && r.offset >= cl.start[i])
          want.push_back(r.offset);
      }
      const auto& got = cl.taken[i];
      if (got.size() > want.size() || !std::equal(got.begin(), got.end(), want.begin()) ||
          (whole && got.size() != want.size()))
        return fail("client " + std::to_string(who) + " took other records of partition " +
                    std::to_string(cl.parts[i]) + " than its log has from its start");
    }
  }

  // The hub takes the stream over where its rings hold every position: a cohort at exactly the
  // reader's positions, catching up from the rings.
  void hand_over(client& cl) {
    const auto& at = cl.reader->positions().positions();
    for (std::size_t i = 0; i < at.size(); ++i) {
      if (rings_[cl.parts[i]].find(at[i].next_offset).status == ring_lookup::before_ring)
        return;
    }
    if (cl.feeds) {
      // Its bytes so far were checked per partition; from here they must be F's from the
      // hand-over's positions, byte for byte.
      cl.expected = cl.got;
      cl.reference.emplace(cl.f, position_vector(at), cl.pass, cl.filter);
      for (const auto& r : log_)
        feed_reference(cl, r);
      cl.queue.clear();
    }
    cl.c = std::make_unique<cohort>(++cohorts_, cl.f, false, position_vector(at), cl.pass);
    cl.keeps_places = cohorts_ % 2 == 0;
    cl.cursor = cl.c->tail();
    ++report_.handed_over;
    if (cl.log_at < log_.size())
      ++report_.handed_over_early;
    replay(cl, 0);
  }

  void handle_pulls() {
    for (auto& cl : clients_) {
      if (cl.pull && cl.replaying && !cl.lapped)
        replay(cl, *cl.pull);
      cl.pull.reset();
    }
  }

  void check_prefixes() {
    for (std::size_t i = 0; i < clients_.size() && report_.failure.empty(); ++i) {
      const auto& cl = clients_[i];
      if (cl.feeds && !cl.c) {
        check_taken(cl, i, false);
        continue;
      }
      if ((cl.c || cl.reader) && cl.expected.compare(0, cl.got.size(), cl.got) != 0)
        fail("client " + std::to_string(i) + " got bytes F would not send");
    }
  }

  void finish() {
    if (!report_.failure.empty())
      return;
    // The hub stops appending; every client reads all, pulling while it catches up. Each round
    // either moves a client or ends: bounded by the bytes in play.
    for (bool moved = true; moved;) {
      moved = false;
      for (auto& cl : clients_) {
        while (take_one(cl))
          moved = true;
      }
      for (auto& cl : clients_)
        moved = moved || (cl.pull && cl.replaying && !cl.lapped);
      handle_pulls();
      check_prefixes();
    }
    for (std::size_t i = 0; i < clients_.size() && report_.failure.empty(); ++i) {
      auto& cl = clients_[i];
      const auto who = "client " + std::to_string(i);
      if (!cl.c && cl.feeds) {
        check_taken(cl, i, true);
        continue;
      }
      if (!cl.c) {
        // A reader the hub never took (here: only one whose rings lost its positions): it read
        // the whole log itself.
        if (cl.got != cl.expected)
          fail(who + " read " + std::to_string(cl.got.size()) + " bytes, F " +
               std::to_string(cl.expected.size()));
        continue;
      }
      if (cl.lapped) {
        if (!cl.got.empty() && cl.got.back() != '\n')
          fail(who + " lapped in the middle of an event");
        continue;
      }
      if (cl.replaying)
        fail(who + " never caught up");
      else if (cl.got != cl.expected)
        fail(who + " got " + std::to_string(cl.got.size()) + " bytes, F " +
             std::to_string(cl.expected.size()));
      for (std::size_t p = 0; p < cl.parts.size() && report_.failure.empty(); ++p) {
        const auto& a = cl.c->positions().at(p);
        const auto& b = cl.reference->positions().at(p);
        if (a.next_offset != b.next_offset || a.timestamp != b.timestamp)
          fail(who + " ended at other positions than F");
      }
    }
  }

  choices& ch_;
  replay_scope scope_;
  replay_report report_;
  std::vector<partition_ring> rings_;
  std::vector<std::int64_t> next_offset_;
  std::size_t max_ring_bytes_ = 0;
  std::uint64_t seq_ = 0;
  std::int64_t now_ = 0;
  std::vector<record> log_;
  std::vector<client> clients_;
  std::uint64_t cohorts_ = 0;  // ids given
};

}  // namespace replay_sim

inline replay_report simulate_replay(choices& ch, const replay_scope& scope) {
  return replay_sim::simulation(ch, scope).run();
}

}  // namespace eventstreams::test
