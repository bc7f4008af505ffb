// The shared delivery mode (docs/api.md §11): one Kafka consumer per process (the hub) reads
// every partition of the shared streams on its own thread, splices each record once and steps
// the cohorts that read its partition; each batch reaches every I/O shard with one post, and
// the shard wakes the members that wait. Below sse/ (which adapts it to an event source).
#pragma once

#include <prometheus/counter.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "eventstreams/cohort.hpp"
#include "eventstreams/config.hpp"
#include "eventstreams/filter_set.hpp"
#include "eventstreams/partition_ring.hpp"
#include "eventstreams/resume.hpp"
#include "fanout/ring_feed.hpp"
#include "kafka/kafka_client.hpp"
#include "metrics/metrics.hpp"
#include "net/net.hpp"
#include "net/strand_wheel.hpp"

namespace eventstreams::fanout {

// Keeps a cohort alive: every member holds its cohort's token; the hub holds a weak reference
// and drops a cohort nobody holds.
struct cohort_token {
  std::uint64_t id = 0;
};

// What the hub hands a shard per batch: the new tail of each cohort whose chain grew.
struct advance {
  std::uint64_t cohort = 0;
  std::shared_ptr<const framed_chunk> tail;
};

// A stream served by the hub, as its shard sees it. Called on the shard's strand.
class shard_member {
 public:
  // The chain of the member's cohort grew up to `tail`.
  virtual void on_advance(const framed_chunk& tail) = 0;
  // Once a second (hub_shard::sample_lag), for a member that is not known to be caught up:
  // adds the member's stream's lag at `now_ms` to `batch` (docs/api.md "Metrics"). Whether the
  // stream is counted in eventstreams_clients_lagging after it.
  virtual bool sample_lag(std::int64_t now_ms, lag_batch& batch) = 0;

 protected:
  virtual ~shard_member() = default;

 private:
  friend class hub_shard;
  std::uint64_t cohort_ = 0;
  std::size_t slot_ = 0;
  bool listed_ = false;
};

// The members of one I/O shard, by cohort. Every call on its strand.
class hub_shard {
 public:
  using executor_type = net::strand<net::io_context::executor_type>;
  // `wakes`: eventstreams_fanout_wakes_total, counted once per wake of the shard.
  hub_shard(net::io_context& io, std::chrono::milliseconds flush_delay, prometheus::Counter& wakes);

  const executor_type& executor() const noexcept { return *strand_; }
  // The members' heartbeat deadlines, behind one timer on the strand (docs/api.md §5.1).
  strand_wheel& wheel() noexcept { return wheel_; }
  // Before the I/O context is destroyed (after its threads stopped): a strand must not outlive
  // its context's services. The member lists stay, for sessions destroyed with the context.
  void release_executor();

  // `cursor`: the last chunk the member took (null: none), as saw() keeps it.
  void add(shard_member& m, std::uint64_t cohort, const framed_chunk* cursor = nullptr);
  void remove(shard_member& m);
  // The member continues in another cohort (after a merge).
  void move(shard_member& m, std::uint64_t cohort);
  // The member's cursor is now `cursor`, which the member holds until its next saw() or its
  // remove(): the lag pass reads it instead of the member (a member whose cursor has no next
  // chunk is caught up: its sample is 0 records, 0 s).
  void saw(shard_member& m, const framed_chunk* cursor);
  // From the hub, once per batch.
  void advanced(const std::vector<advance>& tails);
  std::size_t members() const noexcept { return count_; }
  // Thread-safe: on the strand, samples every member's lag into `metrics` with one clock read
  // and one batch (the shard's members are not walked by the server's registry).
  void sample_lag(eventstreams::metrics& metrics);

 private:
  void wake(const std::vector<advance>& tails);
  void compact();

  std::optional<executor_type> strand_;
  strand_wheel wheel_;
  std::chrono::milliseconds flush_delay_;
  std::optional<net::steady_timer> delay_timer_;
  bool delay_armed_ = false;
  std::vector<advance> delayed_;
  // A member in its cohort's list, with what the lag pass needs of it: one sequential walk, no
  // visit to the member (tens of thousands per shard) unless it is behind or lagging.
  struct slot {
    shard_member* member = nullptr;  // null: a hole
    const framed_chunk* cursor = nullptr;
    // New in the list (its stream's lagging state unknown here), or counted in
    // eventstreams_clients_lagging at its last sample: the next sample visits it.
    bool visit = true;
  };
  std::unordered_map<std::uint64_t, std::vector<slot>> members_;
  std::vector<std::uint64_t> holes_;  // cohorts with removed slots, compacted after a wake
  bool waking_ = false;  // walking the lists by index (a wake, a lag sample): removal leaves holes
  std::size_t count_ = 0;
  prometheus::Counter& wakes_;
};

struct join_request {
  std::vector<std::string> topics;  // the request's topics, request order
  std::vector<bool> topic_passes;   // parallel: canaries pass
  framing body = framing::sse;
  bool chunked = true;
  // The ends looked up at connect, in assignment order (docs/api.md §4: "the end" is the high
  // watermark when the connection starts). A partition the hub has not read up to there yet
  // is skipped up to it; one the hub read past starts at the hub's head.
  std::vector<partition_position> ends;
  // The request's filter (docs/api.md "Server-side filters"), or null: part of the cohort key,
  // evaluated by the hub once per record per distinct filter.
  std::shared_ptr<const filter::compiled> filter;
  // A resumed request (Last-Event-ID, since): `ends` are its exact start positions. The hub
  // serves it only when its partition rings hold every record from there (docs/api.md §11):
  // the member's cohort replays them, then reads live.
  bool exact = false;
  // A member more than fanout.cohort_window behind its cohort, continuing from the rings at its
  // positions (exact): counted in eventstreams_fanout_demotions_total.
  bool demotion = false;
  // A resumed request the rings may place without a Kafka lookup (docs/api.md §11): its
  // Last-Event-ID entries and `since`, placed per partition by start_in_ring; `ends` is then
  // empty. `counts` are the topics' partition counts as the lookup client has them cached: a
  // topic whose count differs from what the hub reads is not placed (partitions added).
  struct resume_point {
    std::vector<last_event_entry> entries;
    std::optional<std::int64_t> since;
    resume_policy policy = resume_policy::offset;
    std::vector<int> counts;  // parallel to topics
  };
  std::optional<resume_point> resume{};
};

struct join_result {
  std::shared_ptr<const cohort_token> token;
  std::shared_ptr<const framed_chunk> after;  // the member reads the chunks after this one
  std::vector<partition_position> positions;  // its start positions
  std::vector<bool> pass_canary;              // per position
  // Set for a cohort that catches up from the rings: the member calls it with the end_bytes of
  // each chunk marked framed_chunk::pull it takes (from any thread).
  std::function<void(std::uint64_t)> pull;
};

class hub {
 public:
  // `topics`: every topic of the shared streams. `io`: the I/O threads' context, one shard per
  // thread.
  hub(const config& cfg, const std::string& bootstrap, kafka::kafka_client& lookup,
      std::vector<std::string> topics, net::io_context& io, unsigned shards,
      eventstreams::metrics& metrics);
  ~hub();
  hub(const hub&) = delete;
  hub& operator=(const hub&) = delete;

  // Starts the hub thread: it looks up the partitions and their ends (retrying while Kafka is
  // unreachable), assigns them and reads.
  void start();
  // Stops reading and joins the thread (blocks: not on an I/O thread). Call it after the I/O
  // threads stopped and before their context is destroyed; destroy the hub after the context
  // (its shards list the sessions the context destroys).
  void stop();
  // Reading: joins are served.
  bool ready() const noexcept { return ready_.load(); }
  // The rings hold what fanout.ring.warm_records asked for: every partition was read up to the
  // end seen when the hub started, from up to that many records before it (docs/api.md §11).
  // /readyz waits for it, so that a restarted node takes reconnecting clients once it can
  // replay their resumes from memory.
  bool warm() const noexcept { return warm_.load(); }
  // Blocks until ready() or the deadline (a stream set-up on the blocking pool waits for the
  // hub's start, milliseconds once Kafka answers). Whether it is ready.
  bool wait_ready(std::chrono::steady_clock::time_point deadline);
  // At shutdown: set-ups waiting in wait_ready() give up now (the blocking pool is joined).
  void release_waiters();
  const std::vector<std::string>& topics() const noexcept { return topics_; }

  // The shard a new member goes to (round robin).
  hub_shard& next_shard();
  // Thread-safe: every shard samples its members' lag (hub_shard::sample_lag).
  void sample_lag();

  // On the hub thread: the cohort of a stream of `req` that starts at the hub's head, joined
  // or created. `done` runs on the hub thread, with nothing when the hub cannot serve it (not
  // ready, a topic it does not read).
  void join(join_request req, std::function<void(std::optional<join_result>)> done);

  // For a catch-up reader of a stream of `req` at `req.ends` (its positions, in assignment
  // order): per position, whether the rings hold every record of the partition from there with
  // room to spare (a quarter of what the ring keeps lies before it), so that the reader may stop
  // reading that partition and leave its records to the rings (docs/api.md §11). All false when
  // an exact join of `req` would be refused whatever the positions (not ready, a topic it does
  // not read, partitions added, a filter that reads $key). `done` runs on the hub thread.
  void probe(join_request req, std::function<void(std::vector<bool>)> done);

  // Feeds `feed` the records of `topic`/`partition`, the partition at position index `index` of
  // a catch-up reader, from `next_offset` on, as the rings hold them (docs/api.md §11): up to
  // the feed's window, then as the reader takes them and as the hub reads more. Where the rings
  // do not hold the partition's next record (not ready, evicted, a topic the hub does not read)
  // the feed gets its loss instead, and nothing more of it.
  void feed(std::shared_ptr<ring_feed> feed, std::uint32_t index, std::string topic,
            std::int32_t partition, std::int64_t next_offset);

  std::size_t cohorts() const noexcept { return cohort_count_.load(); }

 private:
  struct entry;
  void run();
  void open();
  void wait_records();
  void drain();
  void after_batch(bool sweep = false);
  void sync(entry& e);
  bool current(const entry& e) const;
  void touch(entry& e);
  void tick();
  void drop(std::uint64_t id);
  void release(std::uint64_t id);
  void fail_readers(const source_error& error);
  void ring_break(std::size_t part, const position_gap& gap);
  void end_cohort(entry& e, std::string kind, std::string detail);
  std::function<void(std::uint64_t)> puller(std::uint64_t id);
  void pull(std::uint64_t id, std::uint64_t consumed);
  partition_ring new_ring(std::int64_t base) const;
  void replay(entry& e, std::vector<advance>& tails);
  void go_live(entry& e, std::vector<advance>& tails);
  void subscribe(entry& e);
  void post(std::vector<advance> tails);
  void check_warm();
  void keep_in_ring(const source_record& rec, const spliced_record& s);
  void seal_rings();
  std::optional<join_result> do_join(const join_request& req);
  struct feed_entry;
  void step_feeds();
  // False when the feed is gone (closed, or its reader let go).
  bool step_feed(feed_entry& f);
  std::vector<bool> held(const join_request& req) const;
  // The partitions (indexes into rings_ and heads_) of `ends`, which name every partition of
  // `topics` in assignment order: false when they do not (a topic the hub does not read,
  // partitions added since it started).
  bool partitions_of(const std::vector<std::string>& topics,
                     const std::vector<partition_position>& ends,
                     std::vector<std::size_t>& parts) const;
  bool place_in_rings(const join_request& req, std::vector<partition_position>& out) const;

  const config& cfg_;
  std::string bootstrap_;
  kafka::kafka_client& lookup_;
  std::vector<std::string> topics_;
  eventstreams::metrics& metrics_;
  std::vector<std::unique_ptr<hub_shard>> shards_;
  std::atomic<std::size_t> next_shard_{0};

  // The hub thread's state.
  net::io_context io_;
  std::thread thread_;
  std::optional<net::steady_timer> retry_;
  struct reader;
  std::unique_ptr<reader> reader_;
  std::vector<partition_position> heads_;  // every partition, in topics_ order
  // Per partition: the recent records, for the resumes served from memory (docs/api.md §11).
  std::vector<partition_ring> rings_;
  // Per partition: eventstreams_fanout_ring_partition_bytes and _age_seconds, set at each tick.
  std::vector<std::pair<prometheus::Gauge*, prometheus::Gauge*>> ring_gauges_;
  std::size_t ring_bytes_ = 0;  // of every ring
  std::uint64_t seq_ = 0;       // records appended, in order: the hub's clock
  std::unordered_map<std::string, std::pair<std::size_t, int>> topic_index_;  // first, count
  std::unordered_map<std::uint64_t, std::unique_ptr<entry>> cohorts_;
  std::unordered_map<std::string, std::vector<std::uint64_t>> sets_;  // set key -> cohorts
  // Per partition: the unfiltered cohorts that read it, with the partition's index in each.
  std::vector<std::vector<std::pair<entry*, std::size_t>>> readers_;
  // Per partition: the filters of the filtered cohorts that read it, and those cohorts by
  // filter; stepped only with the records their filter matched (docs/api.md §11).
  struct partition_filters {
    filter::filter_set set;
    std::unordered_map<const filter::compiled*, std::vector<std::pair<entry*, std::size_t>>>
        cohorts;
  };
  std::vector<std::unique_ptr<partition_filters>> filtered_;
  std::vector<const filter::compiled*> matched_;  // of the record being read
  std::vector<std::uint64_t> counts_;  // per partition: records read (filtered cohorts' clock)
  std::optional<net::steady_timer> progress_;  // brings filtered cohorts' positions up to date
  std::vector<entry*> touched_;
  std::vector<advance> failed_tails_;  // error chunks of this batch
  std::uint64_t next_id_ = 1;
  std::string last_error_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> warm_{false};
  std::vector<std::int64_t> warm_until_;  // per partition: its end when the hub started
  std::vector<std::int64_t> read_to_;     // per partition: the consumer's next offset
  std::mutex ready_mutex_;
  std::condition_variable ready_cv_;
  bool stopping_ = false;  // under ready_mutex_
  std::atomic<std::size_t> cohort_count_{0};
  // Catch-up readers' partitions read from the rings, by feed.
  struct feed_entry {
    std::weak_ptr<ring_feed> feed;
    struct part {
      std::size_t ring = 0;
      std::uint32_t index = 0;  // in the reader's positions
      std::int64_t next = 0;    // its next offset
    };
    std::vector<part> parts;
  };
  std::unordered_map<const ring_feed*, feed_entry> feeds_;
};

}  // namespace eventstreams::fanout
