// A cohort member as an event source (docs/api.md §11).
#include "sse/hub_source.hpp"

#include <algorithm>
#include <variant>

#include "context/session_registry.hpp"
#include "eventstreams/resume.hpp"

namespace eventstreams {

hub_source::hub_source(fanout::hub_shard& shard, fanout::join_result joined, std::size_t window,
                       demote_fn demote)
    : shard_(shard),
      token_(std::move(joined.token)),
      cursor_(std::move(joined.after)),
      pull_(std::move(joined.pull)),
      window_(window),
      demote_(std::move(demote)) {}

// Destroyed on the blocking pool after close() ran on the strand (retire()).
hub_source::~hub_source() = default;

// The opener attaches on its own strand; the session then runs on the shard's strand, where the
// member joins the shard's list on its first poll.
std::optional<std::string> hub_source::attach(const net::any_io_executor& ex) {
  executor_ = ex;
  return std::nullopt;
}

void hub_source::set_cursor(std::shared_ptr<const framed_chunk> cursor) {
  cursor_ = std::move(cursor);
  shard_.saw(*this, cursor_.get());  // the shard reads it while it is held here
}

void hub_source::list() {
  if (listed_ || closed_)
    return;
  listed_ = true;
  shard_.add(*this, token_->id, cursor_.get());
}

std::size_t hub_source::poll(std::span<source_record>, std::vector<source_error>&) {
  return 0;
}

std::size_t hub_source::poll_framed(std::span<std::shared_ptr<const framed_chunk>> out,
                                    std::vector<source_error>& errors) {
  if (closed_ || demoting_)
    return 0;
  list();
  if (overrun_) {
    // Ended after the complete events already written; the client resumes with its id.
    errors.push_back(
        {false, "overrun", "the client fell behind its group's window", {}, "overrun"});
    return 0;
  }
  // cursor_ moves chunk by chunk below; the shard learns where it ended once, at the end (its
  // lag pass runs on this strand, never in between).
  std::size_t n = 0;
  while (n < out.size()) {
    auto next = cursor_->next_shared();
    if (!next)
      break;
    if (next->error == "overrun" || next->error == "ring_break") {
      // Catching up, it fell behind what the rings keep: ended as an overrun (the next poll),
      // or on from Kafka (overrun_positions()). After a ring break it ends: the log it read
      // may be gone, and its resume finds out (docs/api.md §11).
      overrun_ = true;
      overrun_at_.clear();
      if (next->error == "overrun")
        overrun_at_ = positions_after(*cursor_);
      cursor_.reset();
      break;
    }
    if (!next->error.empty()) {
      // The cohort ended on a Kafka error: the member ends with an error event.
      cursor_ = next;
      errors.push_back({true, next->error, next->error_detail, {}, {}});
      break;
    }
    if (next->jump) {
      // The cohort merged into one with equal positions: continue there, writing nothing.
      token_ = std::static_pointer_cast<const fanout::cohort_token>(next->jump_keep);
      cursor_ = next->jump;
      tail_records_ = 0;  // counted in the other cohort from here on
      shard_.move(*this, token_->id);
      continue;
    }
    if (next->pull && pull_)
      pull_(next->end_bytes);  // the hub steps its cohort further from the rings
    cursor_ = next;
    out[n++] = std::move(next);
  }
  shard_.saw(*this, cursor_.get());
  return n;
}

void hub_source::async_wait(wait_handler ready) {
  if (closed_)
    return;
  if (!demoting_)
    list();  // (demoting: listed again, under its new cohort, by on_demoted)
  waiting_ = std::move(ready);
  // A chunk linked after the poll that found none is announced by a wake posted after the link,
  // which runs on this strand after this call: nothing is missed. Demoting: on_demoted wakes.
  if (!demoting_ && (overrun_ || cursor_->next())) {
    net::post(executor_, [h = std::move(waiting_)] { h({}); });
    waiting_ = nullptr;
  }
}

void hub_source::on_advance(const framed_chunk& tail) {
  if (demoting_)
    return;
  if (token_ && tail.cohort == token_->id && !tail.jump)
    tail_records_ = std::max(tail_records_, tail.end_records);
  if (waiting_) {
    auto h = std::move(waiting_);
    waiting_ = nullptr;
    h({});  // on the shard's strand, which is the session's: no post per member
    return;
  }
  // Writing (or paused by a full socket): a member more than the window behind its cohort is
  // ended at the next event boundary, and from now on pins nothing of the cohort. The newest
  // batch does not count: a member that was writing the one before it is not behind, however
  // large the batch.
  if (!overrun_ && cursor_ && !tail.jump && tail.cohort == token_->id &&
      tail.end_bytes - tail.bytes().size() > cursor_->end_bytes + window_)
    fell_behind();
}

std::vector<partition_position> hub_source::positions_after(const framed_chunk& chunk) const {
  std::vector<partition_position> at;
  if (!demote_ || chunk.end_id.empty())
    return at;
  auto parsed = parse_last_event_id(chunk.end_id);
  if (auto* entries = std::get_if<std::vector<last_event_entry>>(&parsed)) {
    for (const auto& e : *entries) {
      if (!e.partition || !e.offset || *e.offset < 0)
        return {};
      at.push_back({e.topic, *e.partition, *e.offset, e.timestamp});
    }
  }
  return at;
}

std::optional<std::vector<partition_position>> hub_source::overrun_positions() const {
  if (!overrun_ || overrun_at_.empty())
    return std::nullopt;
  return overrun_at_;
}

// More than the window behind its cohort: demoted to the rings at the positions after the last
// chunk it took (its id there: the events it wrote and will write are F's from those positions,
// docs/api.md §11), else ended at the next event boundary. From now on it pins nothing of the
// cohort.
void hub_source::fell_behind() {
  auto at = positions_after(*cursor_);
  set_cursor(nullptr);
  if (at.empty()) {
    overrun_ = true;
    return;
  }
  overrun_at_ = at;  // where it goes on from Kafka, should the rings no longer hold them
  demoting_ = true;
  shard_.remove(*this);
  listed_ = false;
  // The answer comes back to this strand; close() (on it too, before the source is destroyed
  // elsewhere) clears `self`, so an answer after the close is dropped.
  if (!self_)
    self_ = std::make_shared<hub_source*>(this);
  demote_(std::move(at), [self = self_, ex = executor_](std::optional<fanout::join_result> joined) {
    net::post(ex, [self, joined = std::move(joined)]() mutable {
      if (*self)
        (*self)->on_demoted(std::move(joined));
    });
  });
}

void hub_source::on_demoted(std::optional<fanout::join_result> joined) {
  demoting_ = false;
  if (closed_)
    return;
  if (joined) {
    token_ = std::move(joined->token);
    set_cursor(std::move(joined->after));
    pull_ = std::move(joined->pull);
    tail_records_ = 0;
  } else {
    overrun_ = true;  // the rings no longer hold its positions (overrun_at_ has them)
  }
  if (listed_)
    shard_.move(*this, token_->id);
  else
    list();
  wake();
}

void hub_source::wake() {
  if (waiting_) {
    auto h = std::move(waiting_);
    waiting_ = nullptr;
    h({});
  }
}

// The records of its cohort's chain the member has not taken yet (the hub's own consumer is
// taken to keep up), and the age of the first of them (docs/api.md "Metrics").
std::optional<source_lag> hub_source::lag(std::int64_t now_ms) {
  if (closed_ || !cursor_)
    return std::nullopt;  // overrun: it ends at the next event boundary
  source_lag out;
  const framed_chunk* next = cursor_->next();
  if (!next || next->jump || !next->error.empty())
    return out;
  out.records =
      static_cast<std::int64_t>(std::max(tail_records_, next->end_records) - cursor_->end_records);
  if (next->first_timestamp >= 0)
    out.seconds =
        static_cast<double>(std::max<std::int64_t>(0, now_ms - next->first_timestamp)) / 1000.0;
  return out;
}

bool hub_source::sample_lag_by(stream_member& member) {
  lag_member_ = &member;
  return true;
}

bool hub_source::sample_lag(std::int64_t now_ms, lag_batch& batch) {
  return lag_member_ != nullptr && lag_member_->sample_lag_here(now_ms, batch);
}

void hub_source::close() {
  if (closed_)
    return;
  closed_ = true;
  lag_member_ = nullptr;
  if (listed_)
    shard_.remove(*this);
  if (waiting_) {
    net::post(executor_, [h = std::move(waiting_)] { h(net::error::operation_aborted); });
    waiting_ = nullptr;
  }
  cursor_.reset();
  token_.reset();
  pull_ = nullptr;
  if (self_)
    *self_ = nullptr;
}

}  // namespace eventstreams
