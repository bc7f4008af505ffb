// The hub thread: one consumer, one splice per record, cohorts stepped in record order, one post
// per shard per batch (docs/api.md §11).
#include "fanout/hub.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>

#include "eventstreams/event_encoder.hpp"
#include "eventstreams/resume.hpp"
#include "eventstreams/start_resolver.hpp"
#include "kafka/consumer.hpp"

namespace eventstreams::fanout {
namespace {

// Records taken per drain before the batch is published (then the drain goes on).
constexpr std::size_t batch_records = 512;
// How long the hub waits before it asks Kafka again after a failed start.
constexpr std::chrono::seconds retry_interval{1};

// The wall clock in ms: the rings' seal times and their age.
std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// ---- shard -------------------------------------------------------------------------------

hub_shard::hub_shard(net::io_context& io, std::chrono::milliseconds flush_delay,
                     prometheus::Counter& wakes)
    : strand_(net::make_strand(io)),
      wheel_(*strand_),
      flush_delay_(flush_delay),
      delay_timer_(std::in_place, *strand_),
      wakes_(wakes) {}

void hub_shard::release_executor() {
  delayed_.clear();  // chunks that hold cohort tokens, whose release posts to the hub
  delay_timer_.reset();
  wheel_.release();
  strand_.reset();
}

void hub_shard::add(shard_member& m, std::uint64_t cohort, const framed_chunk* cursor) {
  auto& list = members_[cohort];
  m.cohort_ = cohort;
  m.slot_ = list.size();
  m.listed_ = true;
  list.push_back({&m, cursor, true});
  ++count_;
}

void hub_shard::remove(shard_member& m) {
  if (!m.listed_)
    return;
  m.listed_ = false;
  --count_;
  auto it = members_.find(m.cohort_);
  if (it == members_.end())
    return;
  auto& list = it->second;
  if (waking_) {
    // A wake walks this list by index: leave a hole, compacted once the walk is over.
    list[m.slot_] = {};
    holes_.push_back(m.cohort_);
    return;
  }
  list[m.slot_] = list.back();
  list[m.slot_].member->slot_ = m.slot_;
  list.pop_back();
  if (list.empty())
    members_.erase(it);
}

void hub_shard::move(shard_member& m, std::uint64_t cohort) {
  const framed_chunk* cursor = nullptr;
  if (m.listed_) {
    if (auto it = members_.find(m.cohort_); it != members_.end())
      cursor = it->second[m.slot_].cursor;
  }
  remove(m);
  add(m, cohort, cursor);
}

void hub_shard::saw(shard_member& m, const framed_chunk* cursor) {
  if (!m.listed_)
    return;
  if (auto it = members_.find(m.cohort_); it != members_.end())
    it->second[m.slot_].cursor = cursor;
}

void hub_shard::advanced(const std::vector<advance>& tails) {
  if (flush_delay_.count() == 0)
    return wake(tails);
  // fanout.flush_delay: hold the wake so that the next batches leave in the same writes.
  for (const auto& a : tails) {
    auto it = std::find_if(delayed_.begin(), delayed_.end(),
                           [&](const advance& d) { return d.cohort == a.cohort; });
    if (it == delayed_.end())
      delayed_.push_back(a);
    else
      it->tail = a.tail;
  }
  if (delay_armed_)
    return;
  delay_armed_ = true;
  delay_timer_->expires_after(flush_delay_);
  delay_timer_->async_wait([this](beast::error_code) {
    delay_armed_ = false;
    auto due = std::move(delayed_);
    delayed_.clear();
    wake(due);
  });
}

void hub_shard::wake(const std::vector<advance>& tails) {
  waking_ = true;
  std::size_t woken = 0;
  for (const auto& a : tails) {
    auto it = members_.find(a.cohort);
    if (it == members_.end())
      continue;
    // By index: a member woken here may leave, or join another cohort's list.
    auto& list = it->second;
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (auto* m = list[i].member) {
        m->on_advance(*a.tail);
        ++woken;
      }
    }
  }
  waking_ = false;
  if (woken != 0)
    wakes_.Increment(static_cast<double>(woken));
  compact();
}

void hub_shard::sample_lag(eventstreams::metrics& metrics) {
  if (!strand_)
    return;  // released: the I/O threads stopped
  net::post(*strand_, [this, &metrics] {
    const std::int64_t now = wall_ms();
    lag_batch batch;
    std::size_t caught_up = 0;
    // By cohort key and index, as wake(): a member may end while sampled (its session's close
    // removes it, leaving a hole), and no iterator of members_ is held across a member's call.
    std::vector<std::uint64_t> cohorts;
    cohorts.reserve(members_.size());
    for (const auto& [cohort, list] : members_)
      cohorts.push_back(cohort);
    waking_ = true;
    for (auto cohort : cohorts) {
      auto it = members_.find(cohort);
      if (it == members_.end())
        continue;
      auto& list = it->second;
      for (std::size_t i = 0; i < list.size(); ++i) {
        const slot& s = list[i];
        if (s.member == nullptr)
          continue;
        // Caught up and not counted as lagging: its sample is 0 without a visit.
        if (!s.visit && s.cursor != nullptr && s.cursor->next() == nullptr) {
          ++caught_up;
          continue;
        }
        const bool lagging = s.member->sample_lag(now, batch);
        list[i].visit = lagging;  // by index: the call may have left a hole, never a move
      }
    }
    waking_ = false;
    batch.add_caught_up(caught_up);
    metrics.observe_client_lag(batch);
    compact();
  });
}

void hub_shard::compact() {
  for (auto id : holes_) {
    auto it = members_.find(id);
    if (it == members_.end())
      continue;
    auto& list = it->second;
    std::erase_if(list, [](const slot& s) { return s.member == nullptr; });
    for (std::size_t i = 0; i < list.size(); ++i)
      list[i].member->slot_ = i;
    if (list.empty())
      members_.erase(it);
  }
  holes_.clear();
}

// ---- hub ---------------------------------------------------------------------------------

struct hub::reader {
  kafka::consumer consumer;
  net::posix::stream_descriptor wake;
  reader(const kafka_config& cfg, const std::string& bootstrap,
         const std::vector<partition_position>& positions, net::io_context& io)
      : consumer(cfg, bootstrap, positions), wake(io) {
    int fd = consumer.dup_wake_fd();
    if (fd < 0)
      throw std::runtime_error("no descriptor left for the hub's wake-up");
    wake.assign(fd);
  }
};

struct hub::entry {
  std::unique_ptr<cohort> c;
  std::weak_ptr<const cohort_token> token;
  std::string set;                                 // the set key
  std::vector<std::size_t> parts;                  // per cohort position: the hub's partition index
  std::shared_ptr<const filter::compiled> filter;  // null: every record is stepped
  std::vector<std::uint64_t> synced;  // filtered: per position, counts_ when it last moved
  // Catching up from the rings (a resumed request, docs/api.md §11): not yet a reader of its
  // partitions; replay() steps it with their records while its member keeps up.
  bool replaying = false;
  // A reader of its partitions (subscribe()): stepped by the drains from then on.
  bool subscribed = false;
  std::uint64_t consumed = 0;      // the members' end_bytes, from their pulls (the furthest)
  std::vector<ring_place> places;  // replaying: where its ring cursors stopped (pins nothing)
  // A resumed cohort, while it has published at most fanout.cohort_window bytes (replaying or
  // live): its first chunk and its positions there, where a join at the same positions starts
  // too, reading the same chain (a storm of clients with one id shares one replay).
  std::shared_ptr<const framed_chunk> start;
  std::string start_state;
  bool touched = false;
  bool failed = false;  // ended on a Kafka error: dropped after this batch
};

hub::hub(const config& cfg, const std::string& bootstrap, kafka::kafka_client& lookup,
         std::vector<std::string> topics, net::io_context& io, unsigned shards,
         eventstreams::metrics& metrics)
    : cfg_(cfg),
      bootstrap_(bootstrap),
      lookup_(lookup),
      topics_(std::move(topics)),
      metrics_(metrics) {
  for (unsigned i = 0; i < std::max(1u, shards); ++i)
    shards_.push_back(
        std::make_unique<hub_shard>(io, cfg.fanout.flush_delay, metrics.fanout_wakes()));
}

hub::~hub() {
  stop();
}

void hub::start() {
  retry_.emplace(io_);
  progress_.emplace(io_);
  net::post(io_, [this] { open(); });
  thread_ = std::thread([this] { run(); });
}

void hub::release_waiters() {
  {
    std::lock_guard lock(ready_mutex_);
    stopping_ = true;
  }
  ready_cv_.notify_all();
}

void hub::stop() {
  release_waiters();
  if (thread_.joinable()) {
    net::post(io_, [this] {
      ready_ = false;
      if (retry_)
        retry_->cancel();
      if (progress_)
        progress_->cancel();
      if (reader_)
        reader_->wake.cancel();
      io_.stop();
    });
    thread_.join();
  }
  // The consumer joins librdkafka's threads: here, on the stopping thread.
  reader_.reset();
  for (auto& shard : shards_)
    shard->release_executor();
  cohorts_.clear();
  readers_.clear();
  filtered_.clear();
}

bool hub::wait_ready(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(ready_mutex_);
  ready_cv_.wait_until(lock, deadline, [this] { return ready_.load() || stopping_; });
  return ready_.load() && !stopping_;
}

hub_shard& hub::next_shard() {
  return *shards_[next_shard_.fetch_add(1) % shards_.size()];
}

void hub::sample_lag() {
  for (auto& shard : shards_)
    shard->sample_lag(metrics_);
}

void hub::run() {
  for (;;) {
    try {
      io_.run();
      return;
    } catch (const std::exception& e) {
      metrics_.internal_errors("hub").Increment();
      spdlog::error("unexpected error in the shared consumer: {}", e.what());
    }
  }
}

// The partitions of the shared streams at their ends, then the consumer; retried while Kafka
// is unreachable (joins meanwhile are served per connection).
void hub::open() {
  std::vector<partition_position> positions;
  auto err = resolve_start_positions(lookup_, topics_, {}, std::nullopt, cfg_.kafka.resume_by,
                                     cfg_.server.kafka_timeout, positions);
  // fanout.ring.warm_records: the rings start that many records before the ends (at most from
  // the oldest record Kafka keeps), so that a restarted node replays recent resumes from memory.
  std::vector<std::int64_t> ends;
  for (const auto& p : positions)
    ends.push_back(p.next_offset);
  if (!err && cfg_.fanout.ring_warm_records > 0) {
    std::vector<topic_partition> tps;
    for (const auto& p : positions)
      tps.push_back({p.topic, p.partition});
    std::vector<partition_bounds> bounds;
    err = lookup_.bounds(tps, cfg_.server.kafka_timeout, bounds);
    for (std::size_t i = 0; !err && i < positions.size() && i < bounds.size(); ++i)
      positions[i].next_offset = std::min(
          positions[i].next_offset,
          std::max(bounds[i].low, positions[i].next_offset - cfg_.fanout.ring_warm_records));
  }
  if (!err) {
    try {
      kafka_config kc = cfg_.kafka;
      // An offset Kafka no longer has (the hub fell behind retention, the log was reset): the
      // consumer goes on from the earliest record and says so (source_record::gap), a ring
      // break (ring_break()).
      kc.properties["auto.offset.reset"] = "earliest";
      for (const auto& [k, v] : cfg_.fanout.hub_properties)
        kc.properties[k] = v;
      reader_ = std::make_unique<reader>(kc, bootstrap_, positions, io_);
    } catch (const std::exception& e) {
      err = {lookup_error_kind::unreachable, e.what()};
    }
  }
  if (err) {
    if (err.detail != last_error_)
      spdlog::warn("shared consumer: cannot start yet ({}); retrying", err.detail);
    last_error_ = err.detail;
    retry_->expires_after(retry_interval);
    retry_->async_wait([this](beast::error_code ec) {
      if (!ec)
        open();
    });
    return;
  }
  heads_ = std::move(positions);
  warm_until_ = std::move(ends);
  readers_.assign(heads_.size(), {});
  filtered_.clear();
  for (std::size_t i = 0; i < heads_.size(); ++i)
    filtered_.push_back(std::make_unique<partition_filters>());
  counts_.assign(heads_.size(), 0);
  rings_.clear();
  ring_gauges_.clear();
  for (const auto& h : heads_) {
    rings_.push_back(new_ring(h.next_offset));
    ring_gauges_.emplace_back(&metrics_.fanout_ring_partition_bytes(h.topic, h.partition),
                              &metrics_.fanout_ring_age(h.topic, h.partition));
  }
  for (std::size_t i = 0; i < heads_.size(); ++i) {
    auto [it, fresh] = topic_index_.try_emplace(heads_[i].topic, i, 0);
    ++it->second.second;
  }
  spdlog::info("shared consumer reading {} partitions of {} topics", heads_.size(), topics_.size());
  {
    std::lock_guard lock(ready_mutex_);
    ready_ = true;
  }
  ready_cv_.notify_all();
  check_warm();
  wait_records();
  tick();
}

// Once every partition was read up to its end at start (the consumer's position counts the
// transaction markers it skipped), /readyz may answer 200 (docs/api.md §11).
void hub::check_warm() {
  if (warm_ || !reader_)
    return;
  reader_->consumer.next_offsets(read_to_);
  for (std::size_t i = 0; i < warm_until_.size(); ++i) {
    if (i >= read_to_.size() || read_to_[i] < warm_until_[i])
      return;
  }
  warm_ = true;
  std::size_t kept = 0;
  for (const auto& ring : rings_)
    kept += ring.size();
  spdlog::info("shared consumer: read up to the ends it started at ({} records kept in memory)",
               kept);
}

void hub::wait_records() {
  reader_->wake.async_wait(net::posix::stream_descriptor::wait_read, [this](beast::error_code ec) {
    if (ec)
      return;
    reader_->consumer.reset_wake();
    drain();
  });
}

void hub::drain() {
  std::array<source_record, batch_records> records;
  std::vector<source_error> errors;
  std::size_t n = reader_->consumer.poll(records, errors);
  std::string spliced;
  if (n)
    metrics_.fanout_records().Increment(static_cast<double>(n));
  std::size_t evaluations = 0;
  for (std::size_t r = 0; r < n; ++r) {
    const auto& rec = records[r];
    if (rec.index >= heads_.size())
      continue;
    if (rec.gap)
      ring_break(rec.index, *rec.gap);
    // Once per record, whatever the number of streams and clients reading it.
    spliced.clear();
    spliced_record s;
    s.offset = rec.offset;
    s.timestamp = rec.timestamp;
    s.json = splice_meta(rec.value, rec.topic, rec.partition, rec.offset, spliced, &s.canary) ==
             splice_result::ok;
    s.data = spliced;
    s.key = rec.key;
    keep_in_ring(rec, s);
    // Filtered cohorts: each distinct filter once per record, only those the equality index
    // leaves; the cohorts of the filters that match come up to the heads before this record,
    // then step it. The others stay where they are until they emit or a progress tick. A record
    // that is not JSON matches no filter (it counts as filtered out for those cohorts).
    auto& pf = *filtered_[rec.index];
    matched_.clear();
    if (s.json && !pf.set.empty()) {
      const filter::record_view view{s.data,     rec.topic,     rec.partition,
                                     rec.offset, rec.timestamp, rec.key};
      evaluations += pf.set.match(view, matched_);
      for (const auto* f : matched_)
        for (auto& [e, index] : pf.cohorts.at(f))
          if (!e->failed)
            sync(*e);
    }
    auto& head = heads_[rec.index];
    head.next_offset = rec.offset + 1;
    if (rec.timestamp >= 0)
      head.timestamp = rec.timestamp;
    const auto count = ++counts_[rec.index];
    for (auto& [e, index] : readers_[rec.index]) {
      if (e->failed)
        continue;
      s.index = index;
      e->c->step(s);
      touch(*e);
    }
    for (const auto* f : matched_) {
      for (auto& [e, index] : pf.cohorts.at(f)) {
        if (e->failed)
          continue;
        s.index = index;
        e->c->step(s);
        e->synced[index] = count;
        touch(*e);
      }
    }
  }
  if (evaluations)
    metrics_.fanout_filter_evaluations().Increment(static_cast<double>(evaluations));
  for (const auto& e : errors) {
    metrics_.kafka_errors(e.kind).Increment();
    spdlog::log(e.fatal ? spdlog::level::err : spdlog::level::debug, "shared consumer: {}: {}",
                e.kind, e.detail);
    if (e.fatal)
      fail_readers(e);
  }
  seal_rings();
  after_batch();
  if (n && !feeds_.empty())
    step_feeds();
  check_warm();
  if (n == records.size())
    net::post(io_, [this] { drain(); });  // more may wait; the fd fires only when it empties
  else
    wait_records();
}

void hub::keep_in_ring(const source_record& rec, const spliced_record& s) {
  auto& ring = rings_[rec.index];
  std::uint8_t flags = (s.json ? 0 : ring_flag::not_json) | (s.canary ? ring_flag::canary : 0);
  auto before = ring.bytes();
  // librdkafka delivers a partition in offset order; a record below the head would break the
  // ring's chaining (counted, never stored).
  if (!ring.append(++seq_, rec.offset, rec.timestamp, flags, s.json ? s.data : std::string_view{}))
    metrics_.internal_errors("hub_ring").Increment();
  ring_bytes_ += ring.bytes() - before;
}

// The records of partition `part` do not follow on from what the hub read (docs/api.md §11, a
// ring break): it fell behind retention, or the log was reset. Its ring starts again at the
// record after the break, so no resume is replayed across it, and every group that would pass
// over records of the partition ends after its last complete event as an overrun; the clients
// resume with their ids, served per connection, which announces the gap (docs/api.md §5.4).
void hub::ring_break(std::size_t part, const position_gap& gap) {
  spdlog::warn(
      "shared consumer: {}/{} jumped from offset {} to {} ({}): its readers end and "
      "resume",
      heads_[part].topic, heads_[part].partition, gap.requested, gap.resumed,
      gap_reason_name(gap.reason));
  metrics_.fanout_ring_breaks().Increment();
  ring_bytes_ -= rings_[part].bytes();
  rings_[part] = new_ring(gap.resumed);
  heads_[part].next_offset = gap.resumed;
  for (auto& [id, e] : cohorts_) {
    if (e->failed)
      continue;
    // The groups that would pass over records: all of them after a reset (their positions name
    // a log that is gone), those before the offset the partition resumes at after retention
    // (a group that started ahead of the hub loses nothing).
    bool passes_over = false;
    for (std::size_t i = 0; i < e->parts.size(); ++i) {
      if (e->parts[i] == part)
        passes_over =
            gap.reason == gap_reason::reset || e->c->positions().at(i).next_offset < gap.resumed;
    }
    if (passes_over)
      end_cohort(*e, "ring_break", "the shared consumer's ring broke");
  }
  // Catch-up readers reading the partition from the ring go on from Kafka at their positions:
  // their own consumer meets the jump as per-connection streams do (docs/api.md §5.4).
  for (auto& [key, f] : feeds_) {
    auto feed = f.feed.lock();
    std::vector<ring_feed::item> lost;
    for (auto it = f.parts.begin(); it != f.parts.end();) {
      if (it->ring != part) {
        ++it;
        continue;
      }
      lost.push_back({nullptr, 0, it->index, it->next});
      it = f.parts.erase(it);
    }
    if (feed && !lost.empty())
      feed->push(lost, 0);
  }
}

// An empty ring at `base`, in chunks sized for fanout.ring.* (docs/api.md §11).
partition_ring hub::new_ring(std::int64_t base) const {
  return partition_ring(base,
                        partition_ring::chunk_bytes_for(cfg_.fanout.ring_max_bytes_per_partition,
                                                        cfg_.fanout.ring_max_bytes));
}

// Ends a cohort after the events it stepped: its open batch, then the chunk that ends its
// members' streams (`kind` "overrun" or "ring_break": after a complete event; else an error
// event). Dropped at the next batch.
void hub::end_cohort(entry& e, std::string kind, std::string detail) {
  const auto id = e.c->id();
  if (e.touched) {
    e.touched = false;
    std::erase(touched_, &e);
    if (auto chunk = e.c->publish())
      failed_tails_.push_back({id, std::move(chunk)});
  }
  failed_tails_.push_back({id, e.c->fail(std::move(kind), std::move(detail))});
  e.failed = true;
}

// Publishes the rings' batch and keeps them within fanout.ring.* (docs/api.md §11): per
// partition by bytes and age, then the whole process by bytes, oldest chunk first.
void hub::seal_rings() {
  const auto now = wall_ms();
  const auto& f = cfg_.fanout;
  std::vector<std::shared_ptr<const ring_chunk>> published;
  for (auto& ring : rings_) {
    ring.seal(now, published);
    ring_bytes_ -= ring.evict(now, f.ring_max_bytes_per_partition, f.ring_max_age.count());
  }
  while (ring_bytes_ > f.ring_max_bytes) {
    partition_ring* oldest = nullptr;
    for (auto& ring : rings_) {
      auto t = ring.oldest_chunk_time();
      if (t && (!oldest || *t < *oldest->oldest_chunk_time()))
        oldest = &ring;
    }
    if (!oldest)
      break;
    ring_bytes_ -= oldest->evict_oldest_chunk();
  }
  metrics_.fanout_ring_bytes().Set(static_cast<double>(ring_bytes_));
}

// An error that ends a per-connection stream ends the cohorts reading its topic (all of them
// when it names none): their members get the error event (docs/api.md §5.5); new requests
// start new cohorts.
void hub::fail_readers(const source_error& error) {
  for (auto& [id, e] : cohorts_) {
    if (e->failed)
      continue;
    bool reads = error.topic.empty();
    for (std::size_t i = 0; !reads && i < e->c->size(); ++i)
      reads = e->c->positions().at(i).topic == error.topic;
    if (reads)
      end_cohort(*e, error.kind, error.detail);
  }
}

// Publishes the batch of every cohort it touched, merges cohorts whose positions became equal,
// drops those nobody holds, and tells every shard with one post. Per batch only the sets of the
// cohorts touched are looked at (a merge needs positions that moved); `sweep` (the progress
// tick) looks at every set, for the cohorts whose members all left.
void hub::after_batch(bool sweep) {
  sweep = sweep || !failed_tails_.empty();  // cohorts ended on an error go now
  std::vector<advance> tails = std::move(failed_tails_);
  failed_tails_.clear();
  std::vector<std::string_view> sets;
  for (auto* e : touched_) {
    e->touched = false;
    if (auto chunk = e->c->publish())
      tails.push_back({e->c->id(), std::move(chunk)});
    if (e->start && e->c->published_bytes() > cfg_.fanout.cohort_window)
      e->start.reset();
    if (!sweep)
      sets.push_back(e->set);
  }
  touched_.clear();

  // Drop cohorts nobody holds; merge equal ones into the oldest (docs/api.md §11: members of
  // both get the same bytes from here on, so one copy serves them all).
  std::vector<std::uint64_t> gone;
  const auto visit = [&](const std::vector<std::uint64_t>& ids) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      auto& e = *cohorts_.at(ids[i]);
      if (e.token.expired() || e.failed) {
        gone.push_back(ids[i]);
        continue;
      }
      for (std::size_t j = 0; j < i; ++j) {
        auto& older = *cohorts_.at(ids[j]);
        auto keep = older.token.lock();
        if (!keep || older.failed || std::find(gone.begin(), gone.end(), ids[j]) != gone.end())
          continue;
        // A filtered cohort's positions are compared once they are up to date (sync()).
        if (current(older) && current(e) && older.c->id_state() == e.c->id_state()) {
          tails.push_back({e.c->id(), e.c->merge_into(*older.c, std::move(keep))});
          gone.push_back(ids[i]);
          metrics_.fanout_merges().Increment();
          break;
        }
      }
    }
  };
  if (sweep) {
    for (const auto& [set, ids] : sets_)
      visit(ids);
  } else {
    std::sort(sets.begin(), sets.end());
    sets.erase(std::unique(sets.begin(), sets.end()), sets.end());
    for (auto set : sets) {
      if (auto it = sets_.find(std::string(set)); it != sets_.end())
        visit(it->second);
    }
  }
  for (auto id : gone)
    drop(id);
  cohort_count_ = cohorts_.size();
  metrics_.fanout_cohorts().Set(static_cast<double>(cohorts_.size()));
  post(std::move(tails));
}

// One post per shard: each wakes its members of those cohorts.
void hub::post(std::vector<advance> tails) {
  if (tails.empty())
    return;
  auto shared = std::make_shared<const std::vector<advance>>(std::move(tails));
  for (auto& shard : shards_)
    net::post(shard->executor(), [s = shard.get(), shared] { s->advanced(*shared); });
}

// What a member of catching-up cohort `id` calls, from its thread, with the end_bytes of each
// chunk marked framed_chunk::pull it takes.
std::function<void(std::uint64_t)> hub::puller(std::uint64_t id) {
  return [this, id](std::uint64_t consumed) {
    net::post(io_, [this, id, consumed] { pull(id, consumed); });
  };
}

// A member of a catching-up cohort took a chunk: the cohort's chain may grow again.
void hub::pull(std::uint64_t id, std::uint64_t consumed) {
  auto it = cohorts_.find(id);
  if (it == cohorts_.end())
    return;
  auto& e = *it->second;
  if (!e.replaying || e.failed)
    return;
  e.consumed = std::max(e.consumed, consumed);
  std::vector<advance> tails;
  replay(e, tails);
  post(std::move(tails));
  if (!e.replaying && !e.failed)
    after_batch();  // it reads live: merged now into a group at its positions, if there is one
}

// Steps a catching-up cohort with the ring records of its partitions from its positions
// (replay_from_rings, sans-io), at most fanout.cohort_window ahead of its member, in chunks of a
// quarter of that, each marked for the member to pull the next. Once no record is left it reads
// live: it has stepped every record of its partitions the hub read, and the drains step the
// next ones (docs/api.md §11). A record the rings no longer hold ends it as an overrun at an
// event boundary, and the client resumes with its id.
void hub::replay(entry& e, std::vector<advance>& tails) {
  const std::uint64_t window = cfg_.fanout.cohort_window;
  std::vector<const partition_ring*> rings;
  for (auto part : e.parts)
    rings.push_back(&rings_[part]);
  std::vector<std::shared_ptr<const framed_chunk>> published;
  auto r =
      replay_from_rings(*e.c, rings, e.consumed, window, std::max<std::size_t>(window / 4, 4096),
                        published, e.filter.get(), &e.places);
  metrics_.fanout_replayed_records().Increment(static_cast<double>(r.stepped));
  if (r.evaluated)
    metrics_.fanout_filter_evaluations().Increment(static_cast<double>(r.evaluated));
  for (auto& chunk : published)
    tails.push_back({e.c->id(), std::move(chunk)});
  if (r.result == ring_replay::outcome::lapped || e.c->published_bytes() > window)
    e.start.reset();  // a later joiner would start more than a window behind
  switch (r.result) {
    case ring_replay::outcome::more:
      return;
    case ring_replay::outcome::lapped:
      tails.push_back(
          {e.c->id(), e.c->fail("overrun", "the shared consumer's recent records moved on")});
      e.failed = true;
      return;
    case ring_replay::outcome::caught_up:
      return go_live(e, tails);
  }
}

// A catching-up cohort that stepped every record the hub read of its partitions: from now on
// the drains step it; a cohort with equal positions absorbs it at the next batch.
void hub::go_live(entry& e, std::vector<advance>& tails) {
  e.replaying = false;
  e.places = {};
  e.c->release_room();
  subscribe(e);
  if (auto chunk = e.c->publish())
    tails.push_back({e.c->id(), std::move(chunk)});
  touch(e);
}

// From now on the drains step `e` with the records of its partitions: every one, or (filtered)
// those its filter matches, its positions synced up to the heads before (sync()).
void hub::subscribe(entry& e) {
  e.subscribed = true;
  for (std::size_t i = 0; i < e.parts.size(); ++i) {
    if (!e.filter) {
      readers_[e.parts[i]].push_back({&e, i});
      continue;
    }
    e.synced.push_back(counts_[e.parts[i]]);
    auto& pf = *filtered_[e.parts[i]];
    pf.set.add(e.filter);
    pf.cohorts[e.filter.get()].push_back({&e, i});
  }
}

void hub::release(std::uint64_t id) {
  auto it = cohorts_.find(id);
  if (it == cohorts_.end() || !it->second->token.expired())
    return;
  drop(id);
  cohort_count_ = cohorts_.size();
  metrics_.fanout_cohorts().Set(static_cast<double>(cohorts_.size()));
}

void hub::drop(std::uint64_t id) {
  auto it = cohorts_.find(id);
  auto* e = it->second.get();
  if (e->touched)
    std::erase(touched_, e);  // synced by a join since the last batch
  for (std::size_t i = 0; e->subscribed && i < e->parts.size(); ++i) {
    const auto part = e->parts[i];
    if (!e->filter) {
      std::erase_if(readers_[part], [&](const auto& r) { return r.first == e; });
      continue;
    }
    auto& pf = *filtered_[part];
    if (auto at = pf.cohorts.find(e->filter.get()); at != pf.cohorts.end()) {
      std::erase_if(at->second, [&](const auto& r) { return r.first == e; });
      if (at->second.empty())
        pf.cohorts.erase(at);
    }
    pf.set.remove(e->filter.get());
  }
  auto& ids = sets_[e->set];
  std::erase(ids, id);
  if (ids.empty())
    sets_.erase(e->set);
  cohorts_.erase(it);
}

bool hub::current(const entry& e) const {
  if (e.replaying)
    return false;
  for (std::size_t i = 0; i < e.synced.size(); ++i) {
    if (e.synced[i] != counts_[e.parts[i]])
      return false;
  }
  return true;
}

void hub::touch(entry& e) {
  if (!e.touched) {
    e.touched = true;
    touched_.push_back(&e);
  }
}

// A filtered cohort's positions come up to the hub's heads past the records its filter rejected
// since they last moved (docs/api.md §11): they are the positions a per-connection stream with
// that filter would have after the same records.
void hub::sync(entry& e) {
  for (std::size_t i = 0; i < e.parts.size(); ++i) {
    const auto part = e.parts[i];
    const auto behind = counts_[part] - e.synced[i];
    if (behind == 0)
      continue;
    e.synced[i] = counts_[part];
    e.c->skip_to(i, heads_[part].next_offset, heads_[part].timestamp,
                 static_cast<std::uint32_t>(std::min<std::uint64_t>(behind, UINT32_MAX)));
    touch(e);
  }
}

// Twice per keepalive interval (server.heartbeat_interval / 2, between 1 s and 15 s; 15 s
// without keepalives): the filtered cohorts whose filter rejected records since they last moved
// publish their new positions, which their members' keepalives carry as an id-only block
// (docs/api.md §5.1); cohorts nobody holds go. Its cost is per cohort, not per record: 10,000
// cohorts on 32 partitions are 320,000 positions each time.
void hub::tick() {
  check_warm();  // a partition that ends with transaction markers moves no record
  const auto now = wall_ms();
  for (std::size_t i = 0; i < rings_.size() && i < ring_gauges_.size(); ++i) {
    ring_gauges_[i].first->Set(static_cast<double>(rings_[i].bytes()));
    const auto oldest = rings_[i].oldest_chunk_time();
    ring_gauges_[i].second->Set(
        oldest ? static_cast<double>(std::max<std::int64_t>(0, now - *oldest)) / 1000.0 : 0.0);
  }
  for (auto& [id, e] : cohorts_) {
    if (e->filter && e->subscribed && !e->failed)
      sync(*e);
  }
  after_batch(true);
  using std::chrono::milliseconds;
  const auto heartbeat = cfg_.server.heartbeat_interval;
  const auto interval =
      heartbeat.count() > 0
          ? std::clamp<milliseconds>(heartbeat / 2, milliseconds(1000), milliseconds(15000))
          : milliseconds(15000);
  progress_->expires_after(interval);
  progress_->async_wait([this](beast::error_code ec) {
    if (!ec)
      tick();
  });
}

void hub::join(join_request req, std::function<void(std::optional<join_result>)> done) {
  net::post(io_, [this, req = std::move(req), done = std::move(done)] {
    std::optional<join_result> r;
    try {
      r = do_join(req);
    } catch (const std::exception& e) {
      metrics_.internal_errors("hub").Increment();
      spdlog::error("shared consumer: join failed: {}", e.what());
    }
    done(std::move(r));
  });
}

void hub::feed(std::shared_ptr<ring_feed> feed, std::uint32_t index, std::string topic,
               std::int32_t partition, std::int64_t next_offset) {
  net::post(io_, [this, feed = std::move(feed), index, topic = std::move(topic), partition,
                  next_offset]() mutable {
    auto [it, added] = feeds_.try_emplace(feed.get());
    auto& f = it->second;
    if (added) {
      f.feed = feed;
      // The reader took half the window: more, on the hub thread.
      feed->set_puller([this, weak = std::weak_ptr<ring_feed>(feed)] {
        net::post(io_, [this, weak] {
          auto sp = weak.lock();
          if (!sp)
            return;
          if (auto found = feeds_.find(sp.get());
              found != feeds_.end() && !step_feed(found->second))
            feeds_.erase(found);
        });
      });
    }
    std::size_t ring = rings_.size();  // none
    if (ready_) {
      if (auto t = topic_index_.find(topic);
          t != topic_index_.end() && partition >= 0 && partition < t->second.second)
        ring = t->second.first + static_cast<std::size_t>(partition);
    }
    if (ring == rings_.size()) {
      std::vector<ring_feed::item> lost{{nullptr, 0, index, next_offset}};
      feed->push(lost, 0);
    } else {
      f.parts.push_back({ring, index, next_offset});
    }
    if (!step_feed(f))
      feeds_.erase(feed.get());
  });
}

// After each batch the hub read (its rings sealed): every feed takes what it has room for.
void hub::step_feeds() {
  for (auto it = feeds_.begin(); it != feeds_.end();) {
    if (step_feed(it->second))
      ++it;
    else
      it = feeds_.erase(it);
  }
}

bool hub::step_feed(feed_entry& f) {
  auto feed = f.feed.lock();
  if (!feed || feed->closed())
    return false;
  const std::size_t space = feed->space();
  std::vector<ring_feed::item> items;
  std::vector<ring_cursor> cursors;
  std::size_t bytes = 0;
  for (auto it = f.parts.begin(); it != f.parts.end();) {
    cursors.clear();
    if (!feed_from_ring(rings_[it->ring], it->next, space, bytes, cursors)) {
      // Evicted before the reader took it: Kafka has it from there.
      items.push_back({nullptr, 0, it->index, it->next});
      it = f.parts.erase(it);
      continue;
    }
    for (auto& c : cursors)
      items.push_back({std::move(c.chunk), static_cast<std::uint32_t>(c.index), it->index, 0});
    ++it;
  }
  if (!items.empty())
    feed->push(items, bytes);
  return true;
}

void hub::probe(join_request req, std::function<void(std::vector<bool>)> done) {
  net::post(io_, [this, req = std::move(req), done = std::move(done)] { done(held(req)); });
}

std::vector<bool> hub::held(const join_request& req) const {
  std::vector<bool> out(req.ends.size(), false);
  std::vector<std::size_t> parts;
  if (!ready_ || (req.filter && !rings_can_filter(*req.filter)) ||
      !partitions_of(req.topics, req.ends, parts))
    return out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& ring = rings_[parts[i]];
    const bool filling = ring.bytes() * 2 > cfg_.fanout.ring_max_bytes_per_partition ||
                         ring_bytes_ * 2 > cfg_.fanout.ring_max_bytes;
    out[i] = holds_with_room(ring, req.ends[i].next_offset, filling);
  }
  return out;
}

bool hub::partitions_of(const std::vector<std::string>& topics,
                        const std::vector<partition_position>& ends,
                        std::vector<std::size_t>& parts) const {
  for (const auto& t : topics) {
    auto it = topic_index_.find(t);
    if (it == topic_index_.end())
      return false;  // not a topic the hub reads (a stream added by a reload)
    auto [first, count] = it->second;
    for (int p = 0; p < count; ++p) {
      const auto part = first + static_cast<std::size_t>(p);
      const auto& h = heads_[part];
      const std::size_t i = parts.size();
      if (i >= ends.size() || ends[i].topic != h.topic || ends[i].partition != h.partition)
        return false;  // partitions added since the hub started
      parts.push_back(part);
    }
  }
  return parts.size() == ends.size();
}

bool hub::place_in_rings(const join_request& req, std::vector<partition_position>& out) const {
  const auto& resume = *req.resume;
  if (resume.counts.size() != req.topics.size())
    return false;
  for (std::size_t t = 0; t < req.topics.size(); ++t) {
    auto it = topic_index_.find(req.topics[t]);
    if (it == topic_index_.end() || it->second.second != resume.counts[t])
      return false;
    auto [first, count] = it->second;
    for (int p = 0; p < count; ++p) {
      std::int64_t offset = 0;
      std::optional<std::int64_t> carried;
      const auto* governing = governing_entry(resume.entries, req.topics[t], p);
      if (!start_in_ring(governing, resume.since, resume.policy,
                         rings_[first + static_cast<std::size_t>(p)], offset, carried))
        return false;
      out.push_back({req.topics[t], p, offset, carried});
    }
  }
  return true;
}

std::optional<join_result> hub::do_join(const join_request& req) {
  if (!ready_)
    return std::nullopt;
  // The positions in assignment order (docs/api.md §5.2): topics in request order, partitions
  // ascending, as the lookup returned them.
  std::vector<partition_position> placed;
  if (req.resume && !place_in_rings(req, placed))
    return std::nullopt;  // looked up in Kafka, then joined with the positions found
  const auto& ends = req.resume ? placed : req.ends;
  std::vector<std::size_t> parts;
  if (!partitions_of(req.topics, ends, parts))
    return std::nullopt;
  std::vector<partition_position> positions;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto part = parts[i];
    const auto& h = heads_[part];
    // A resumed request starts exactly at its positions; the rings must hold every record
    // from there (docs/api.md §11). Else its own consumer serves it.
    if (req.exact && rings_[part].find(ends[i].next_offset).status == ring_lookup::before_ring)
      return std::nullopt;
    positions.push_back(req.exact ? ends[i]
                                  : partition_position{h.topic, h.partition,
                                                       std::max(h.next_offset, ends[i].next_offset),
                                                       std::nullopt});
  }
  if (req.exact && req.filter && !rings_can_filter(*req.filter))
    return std::nullopt;  // a filter that reads $key: its own consumer (the rings keep no keys)
  position_vector pv(positions);
  auto pass = stream_format::canary_policy(req.topics, req.topic_passes, pv);
  std::string set;
  set += req.body == framing::ndjson ? 'n' : 's';
  set += req.chunked ? 'c' : 'e';
  for (std::size_t i = 0; i < parts.size(); ++i) {
    set += pass[i] ? '+' : '-';
    set += std::to_string(parts[i]);
  }
  if (req.filter) {
    set += '|';
    set += req.filter->canonical();
  }
  const std::string& state = pv.id();

  join_result r;
  r.positions = positions;
  r.pass_canary = pass;
  if (req.demotion)
    metrics_.fanout_demotions().Increment();
  if (auto it = sets_.find(set); it != sets_.end()) {
    for (auto id : it->second) {
      auto& e = *cohorts_.at(id);
      auto token = e.token.lock();
      if (!token || e.failed)
        continue;
      // A resume at the positions another one started from moments ago: it reads the same
      // chain from its first chunk (while replaying, the members pull; a slower one is demoted).
      if (req.exact && e.start && e.start_state == state) {
        r.token = std::move(token);
        r.after = e.start;
        if (e.replaying)
          r.pull = puller(id);
        return r;
      }
      if (e.replaying)
        continue;
      if (e.filter)
        sync(e);  // its positions now (published with the next batch or tick)
      if (e.c->id_state() == state) {
        r.token = std::move(token);
        r.after = e.c->tail();
        return r;
      }
    }
  }
  auto e = std::make_unique<entry>();
  auto id = next_id_++;
  e->c = std::make_unique<cohort>(id, req.body, req.chunked, std::move(pv), pass);
  e->set = set;
  e->parts = parts;
  e->filter = req.filter;
  // The last member to let go tells the hub, which drops the cohort then (and with it its
  // filter, which a new request may need: filter.max_compiled), not at the next sweep.
  std::shared_ptr<const cohort_token> token(new cohort_token{id}, [this](const cohort_token* t) {
    net::post(io_, [this, id = t->id] { release(id); });
    delete t;
  });
  e->token = token;
  e->replaying = req.exact;
  if (req.exact) {
    e->start = e->c->tail();
    e->start_state = std::string(e->c->id_state());  // (pv, which `state` names, moved into it)
  }
  if (!req.exact)
    subscribe(*e);
  r.token = std::move(token);
  r.after = e->c->tail();
  sets_[set].push_back(id);
  auto& added = *cohorts_.emplace(id, std::move(e)).first->second;
  cohort_count_ = cohorts_.size();
  if (added.replaying) {
    r.pull = puller(id);
    std::vector<advance> tails;
    replay(added, tails);
    post(std::move(tails));
    if (!added.replaying && !added.failed)
      after_batch();  // caught up at once: merged now into a group at its positions
  }
  return r;
}

}  // namespace eventstreams::fanout
