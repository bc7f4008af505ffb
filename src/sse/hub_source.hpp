// The event source of the shared mode: a member of a cohort of the hub (docs/api.md §11). It
// hands the session the cohort's framed chunks, which the session writes as they are; it
// follows a merge into another cohort. A member that falls more than fanout.cohort_window behind
// its cohort is demoted: it continues from the partition rings at its positions, in a catching-up
// cohort of its own; when the rings no longer hold them (or the cohort is filtered, or the body
// NDJSON), it says "overrun": the stream ends at an event boundary, or goes on from Kafka at
// overrun_positions().
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fanout/hub.hpp"
#include "sse/event_source.hpp"

namespace eventstreams {

class hub_source final : public event_source, public fanout::shard_member {
 public:
  // Asks the hub for a catching-up cohort at exact positions; the answer runs on any thread.
  using demote_fn = std::function<void(std::vector<partition_position>,
                                       std::function<void(std::optional<fanout::join_result>)>)>;

  // `joined`: the hub's answer; `shard`: where the session runs (its executor is the shard's).
  // `demote`: null when the member cannot be demoted (a filtered stream).
  hub_source(fanout::hub_shard& shard, fanout::join_result joined, std::size_t window,
             demote_fn demote = nullptr);
  ~hub_source() override;

  std::optional<std::string> attach(const net::any_io_executor& ex) override;
  std::size_t poll(std::span<source_record> out, std::vector<source_error>& errors) override;
  bool framed() const noexcept override { return true; }
  std::size_t poll_framed(std::span<std::shared_ptr<const framed_chunk>> out,
                          std::vector<source_error>& errors) override;
  void async_wait(wait_handler ready) override;
  void reset_wake() override {}
  source_stats stats() const override { return {}; }
  std::optional<source_lag> lag(std::int64_t now_ms) override;
  void close() override;
  std::optional<std::vector<partition_position>> overrun_positions() const override;
  bool sample_lag_by(stream_member& member) override;
  strand_wheel* heartbeat_wheel() noexcept override { return &shard_.wheel(); }

  void on_advance(const framed_chunk& tail) override;
  bool sample_lag(std::int64_t now_ms, lag_batch& batch) override;

 private:
  void list();
  // A change of cursor_ outside poll_framed() (which tells the shard once, at its end): the
  // shard keeps a copy of the pointer for its lag pass.
  void set_cursor(std::shared_ptr<const framed_chunk> cursor);
  void fell_behind();
  // The positions after `chunk` (its id), for a demotion: empty when it cannot tell (no id, or a
  // stream that is not demoted: filtered, NDJSON).
  std::vector<partition_position> positions_after(const framed_chunk& chunk) const;
  void on_demoted(std::optional<fanout::join_result> joined);
  void wake();

  fanout::hub_shard& shard_;
  std::shared_ptr<const fanout::cohort_token> token_;
  std::shared_ptr<const framed_chunk> cursor_;  // the last chunk handed out
  std::function<void(std::uint64_t)> pull_;     // catching up from the rings: the hub's
  std::size_t window_;
  net::any_io_executor executor_;
  wait_handler waiting_;
  bool listed_ = false;  // in the shard's member list (on the strand, from the first poll)
  bool closed_ = false;
  bool overrun_ = false;
  std::vector<partition_position> overrun_at_;  // overrun_positions(), when known
  demote_fn demote_;
  bool demoting_ = false;              // waiting for the hub's catching-up cohort
  std::shared_ptr<hub_source*> self_;  // this until close(), for the hub's answer
  // The end_records of the newest chunk of its cohort (on_advance), for the lag.
  std::uint64_t tail_records_ = 0;
  stream_member* lag_member_ = nullptr;  // sampled by the shard (sample_lag_by), until close()
};

}  // namespace eventstreams
