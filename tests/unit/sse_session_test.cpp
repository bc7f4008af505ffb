// A streaming session driven against a fake event source, no Kafka: the bytes it writes for given
// records (API.md §5.1, §5.2, §5.5), its keepalives, backpressure, ends, and what it does with
// its source. The harness (session_harness.hpp) runs it on a loopback TCP pair.
#include "sse/sse_session.hpp"

#include <gtest/gtest.h>

#include <iomanip>
#include <sstream>
#include <string>
#include <thread>

#include "eventstreams/problem.hpp"
#include "session_harness.hpp"

namespace eventstreams::test {
namespace {

constexpr const char* start_id = R"([{"topic":"a","partition":0,"offset":5},)"
                                 R"({"topic":"b","partition":0,"offset":7}])";
constexpr const char* canary = R"({"meta":{"domain":"canary"},"n":1})";

TEST_F(SessionTest, WritesTheHeaderThePreambleAndEachEventInChunks) {
  src_->push(0, "a", 5, R"({"x":1})", 1700000000001);
  src_->push(1, "b", 7, R"({"y":2})", 1700000000002);
  start();
  ASSERT_TRUE(run_until([&] { return count(body().data, "event: message") == 2; })) << received_;
  // The header first, then the preamble as its own chunk (written before the first drain).
  const std::string preamble = std::string(":ok\n\nid: ") + start_id + "\n\n";
  EXPECT_TRUE(raw_body().starts_with((std::stringstream() << std::hex << preamble.size()).str() +
                                     "\r\n" + preamble + "\r\n"))
      << received_;
  EXPECT_TRUE(body().valid);
  EXPECT_FALSE(body().complete);
  EXPECT_EQ(body().data,
            preamble +
                "event: message\n"
                R"(id: [{"topic":"a","partition":0,"offset":6,"timestamp":1700000000001},)"
                R"({"topic":"b","partition":0,"offset":7}])"
                "\n"
                R"(data: {"meta":{"topic":"a","partition":0,"offset":5},"x":1})"
                "\n\n"
                "event: message\n"
                R"(id: [{"topic":"a","partition":0,"offset":6,"timestamp":1700000000001},)"
                R"({"topic":"b","partition":0,"offset":8,"timestamp":1700000000002}])"
                "\n"
                R"(data: {"meta":{"topic":"b","partition":0,"offset":7},"y":2})"
                "\n\n");
  EXPECT_EQ(ctx_.metrics.events_sent("s").Value(), 2);
  EXPECT_EQ(ctx_.metrics.http_requests("stream", 200).Value(), 1);
  EXPECT_EQ(ctx_.metrics.connected_clients("s").Value(), 1);
  // Every poll asks for at most one batch.
  EXPECT_LE(src_->largest_ask, 64u);
}

TEST_F(SessionTest, ARecordAfterAJumpComesAfterItsGapEventAndTheGapIsCounted) {
  const position_gap gap{0, gap_reason::retention, 5, 40, 35};
  src_->push(0, "a", 40, R"({"x":1})", 1700000000001);
  src_->queue.back().record.gap = &gap;
  start();
  ASSERT_TRUE(run_until([&] { return count(body().data, "event: message") == 1; })) << received_;
  const std::string preamble = std::string(":ok\n\nid: ") + start_id + "\n\n";
  EXPECT_EQ(body().data,
            preamble +
                "event: gap\n"
                R"(id: [{"topic":"a","partition":0,"offset":40},)"
                R"({"topic":"b","partition":0,"offset":7}])"
                "\n"
                R"(data: {"partitions":[{"topic":"a","partition":0,"requested":5,"resumed":40,)"
                R"("missing":35,"reason":"retention"}]})"
                "\n\n"
                "event: message\n"
                R"(id: [{"topic":"a","partition":0,"offset":41,"timestamp":1700000000001},)"
                R"({"topic":"b","partition":0,"offset":7}])"
                "\n"
                R"(data: {"meta":{"topic":"a","partition":0,"offset":40},"x":1})"
                "\n\n");
  EXPECT_EQ(ctx_.metrics.gaps("retention").Value(), 1);
  EXPECT_EQ(ctx_.metrics.gaps("reset").Value(), 0);
  EXPECT_EQ(ctx_.metrics.events_sent("s").Value(), 1);
}

TEST_F(SessionTest, WaitsForTheWakeUpAndDrainsWhatArrivedThen) {
  start();
  ASSERT_TRUE(run_until([&] { return src_->waiter.has_value(); }));
  const auto polls = src_->polls;
  run_for(50ms);
  EXPECT_EQ(src_->polls, polls);  // waiting, not polling
  EXPECT_EQ(count(body().data, "event: message"), 0u);

  src_->push(0, "a", 5, R"({"x":1})");
  ASSERT_TRUE(src_->fire());
  ASSERT_TRUE(run_until([&] { return count(body().data, "event: message") == 1; })) << received_;
  EXPECT_EQ(src_->resets, 1u);
  EXPECT_TRUE(src_->waiter.has_value());  // empty again: waiting for the next wake-up
}

TEST_F(SessionTest, NdjsonWritesOneLinePerEventAndNothingElse) {
  src_->push(0, "a", 5, R"({"x":1})");
  src_->push(0, "a", 6, canary);
  src_->push(1, "b", 7, R"({"y":2})");
  start(framing::ndjson);
  ASSERT_TRUE(run_until([&] { return count(body().data, "\n") == 2; })) << received_;
  run_for(50ms);
  EXPECT_EQ(body().data, R"({"meta":{"topic":"a","partition":0,"offset":5},"x":1})"
                         "\n"
                         R"({"meta":{"topic":"b","partition":0,"offset":7},"y":2})"
                         "\n");
}

TEST_F(SessionTest, SkipsCanariesAndNonJsonAndTheKeepaliveCarriesTheirPosition) {
  ctx_.cfg.server.heartbeat_interval = 100ms;
  src_->push(0, "a", 5, canary, 42);      // a drops canaries
  src_->push(0, "a", 6, "not json", 43);  // never sent
  src_->push(1, "b", 7, canary, 44);      // b passes them
  start();
  ASSERT_TRUE(run_until([&] { return count(body().data, "event: message") == 1; })) << received_;
  const std::string events_part =
      std::string(":ok\n\nid: ") + start_id + "\n\n" +
      "event: message\n"
      R"(id: [{"topic":"a","partition":0,"offset":7,"timestamp":43},)"
      R"({"topic":"b","partition":0,"offset":8,"timestamp":44}])"
      "\n"
      R"(data: {"meta":{"topic":"b","partition":0,"offset":7,"domain":"canary"},"n":1})"
      "\n\n";
  EXPECT_EQ(body().data, events_part);
  EXPECT_EQ(ctx_.metrics.events_skipped("canary").Value(), 1);
  EXPECT_EQ(ctx_.metrics.events_skipped("not_json").Value(), 1);

  // Idle: the keepalive is a comment, since the last event carried the positions.
  ASSERT_TRUE(run_until([&] { return body().data.size() > events_part.size(); })) << received_;
  EXPECT_EQ(body().data, events_part + ":\n\n");

  // A dropped canary moves a position without an event: the next keepalive is an id block.
  src_->push(0, "a", 7, canary, 45);
  ASSERT_TRUE(src_->fire());
  ASSERT_TRUE(run_until([&] { return body().data.size() > events_part.size() + 3; })) << received_;
  EXPECT_EQ(body().data, events_part + ":\n\n" +
                             R"(id: [{"topic":"a","partition":0,"offset":8,"timestamp":45},)"
                             R"({"topic":"b","partition":0,"offset":8,"timestamp":44}])"
                             "\n\n");
  // And after it, comments again.
  const auto before = body().data.size();
  ASSERT_TRUE(run_until([&] { return body().data.size() > before; })) << received_;
  EXPECT_EQ(body().data.substr(before), ":\n\n");
}

TEST_F(SessionTest, AFatalErrorEndsAnSseStreamWithAnErrorEventAndTheFinalChunk) {
  src_->push(0, "a", 5, R"({"x":1})", 1000);
  src_->push_error("_TRANSPORT", false);  // retried by librdkafka: the stream goes on
  src_->push(0, "a", 6, canary, 1001);
  src_->push_error("_UNKNOWN_TOPIC", true);
  start();
  ASSERT_TRUE(run_until([&] { return eof_; })) << received_;
  EXPECT_TRUE(body().valid);
  EXPECT_TRUE(body().complete);
  const std::string id_after = R"([{"topic":"a","partition":0,"offset":7,"timestamp":1001},)"
                               R"({"topic":"b","partition":0,"offset":7}])";
  EXPECT_TRUE(
      body().data.ends_with("event: error\nid: " + id_after + "\ndata: " +
                            problem_json(error_kind::kafka_unavailable,
                                         "Kafka error: _UNKNOWN_TOPIC", "GET", "/v2/stream/s") +
                            "\n\n"))
      << body().data;
  EXPECT_EQ(count(body().data, "event: message"), 1u);
  EXPECT_EQ(ctx_.metrics.kafka_errors("_TRANSPORT").Value(), 1);
  EXPECT_EQ(ctx_.metrics.kafka_errors("_UNKNOWN_TOPIC").Value(), 1);
  EXPECT_EQ(ctx_.metrics.clients_disconnected("kafka_error").Value(), 1);
}

TEST_F(SessionTest, AFatalErrorJustEndsAnNdjsonStream) {
  src_->push(0, "a", 5, R"({"x":1})");
  src_->push_error("_UNKNOWN_TOPIC", true);
  start(framing::ndjson);
  ASSERT_TRUE(run_until([&] { return eof_; })) << received_;
  EXPECT_TRUE(body().complete);
  EXPECT_EQ(body().data, R"({"meta":{"topic":"a","partition":0,"offset":5},"x":1})"
                         "\n");
}

TEST_F(SessionTest, AServerEndSendsTheMovedPositionsThenTheFinalChunk) {
  src_->push(0, "a", 5, canary, 42);
  start();
  ASSERT_TRUE(run_until([&] { return src_->waiter.has_value(); }));
  session_.lock()->end("server shutdown");
  ASSERT_TRUE(run_until([&] { return eof_; })) << received_;
  EXPECT_TRUE(body().complete);
  EXPECT_EQ(body().data, std::string(":ok\n\nid: ") + start_id + "\n\n" +
                             R"(id: [{"topic":"a","partition":0,"offset":6,"timestamp":42},)"
                             R"({"topic":"b","partition":0,"offset":7}])"
                             "\n\n");
  EXPECT_EQ(ctx_.metrics.clients_disconnected("server_shutdown").Value(), 1);
  EXPECT_EQ(ctx_.metrics.connected_clients("s").Value(), 0);
}

TEST_F(SessionTest, AServerEndWithoutMovedPositionsSendsOnlyTheFinalChunk) {
  start();
  ASSERT_TRUE(run_until([&] { return src_->waiter.has_value(); }));
  session_.lock()->end("server shutdown");
  ASSERT_TRUE(run_until([&] { return eof_; })) << received_;
  EXPECT_TRUE(body().complete);
  EXPECT_EQ(body().data, std::string(":ok\n\nid: ") + start_id + "\n\n");
}

TEST_F(SessionTest, AnEndThatArrivesBeforeTheStartEndsTheStreamAfterItsPreamble) {
  start(framing::sse, /*end_first=*/true);
  ASSERT_TRUE(run_until([&] { return eof_; })) << received_;
  EXPECT_TRUE(body().complete);
  EXPECT_EQ(body().data, std::string(":ok\n\nid: ") + start_id + "\n\nretry: 250\n\n");
  EXPECT_EQ(ctx_.metrics.clients_disconnected("server_shutdown").Value(), 1);
}

TEST_F(SessionTest, MaxConnectionDurationEndsTheStream) {
  ctx_.cfg.server.max_connection_duration = 100ms;
  start();
  ASSERT_TRUE(run_until([&] { return eof_; })) << received_;
  EXPECT_TRUE(body().complete);
  EXPECT_EQ(ctx_.metrics.clients_disconnected("max_connection_duration").Value(), 1);
}

TEST_F(SessionTest, ClosingRetiresTheSourceOnTheBlockingPool) {
  start();
  ASSERT_TRUE(run_until([&] { return src_->waiter.has_value(); }));
  client_.shutdown(tcp::socket::shutdown_send);  // the client leaves
  ASSERT_TRUE(run_until([&] { return src_->closed; }));
  pool_.join();
  EXPECT_TRUE(src_->destroyed);
  EXPECT_NE(src_->destroyed_on, std::this_thread::get_id());  // never on the I/O thread
  EXPECT_EQ(ctx_.metrics.clients_disconnected("client_closed").Value(), 1);
  EXPECT_EQ(ctx_.metrics.connected_clients("s").Value(), 0);
  run_for(20ms);
  EXPECT_TRUE(session_.expired());
}

TEST_F(SessionTest, FetchKicksOfTheSourceReachTheMetric) {
  src_->kicks_per_poll = 2;
  src_->push(0, "a", 5, R"({"x":1})");
  start();
  ASSERT_TRUE(run_until([&] { return src_->waiter.has_value(); }));
  EXPECT_GT(src_->kicks, 0u);
  EXPECT_EQ(ctx_.metrics.fetch_restarts().Value(), static_cast<double>(src_->kicks));
}

// A sample of the metrics' text: `name value`, or -1 when absent.
double sample_of(const std::string& text, const std::string& name) {
  auto at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size() + 2));
}
double sample(const server_context& ctx, const std::string& name) {
  return sample_of(ctx.metrics.render(), name);
}

TEST_F(SessionTest, LagSamplesReachTheHistogramsAndTheLaggingGauge) {
  start();
  ASSERT_TRUE(run_until([&] { return src_->waiter.has_value(); }));
  auto session = session_.lock();
  ASSERT_NE(session, nullptr);
  auto sampled = [&](double n) {
    return run_until([&] { return sample(ctx_, "eventstreams_client_lag_records_count") == n; });
  };
  // A source that cannot tell is left out.
  session->sample_lag();
  ASSERT_TRUE(run_until([&] { return src_->lag_asked == 1; }));
  EXPECT_EQ(sample(ctx_, "eventstreams_client_lag_records_count"), 0);

  src_->lag = source_lag{500, 12.5};  // more than 10 s behind
  session->sample_lag();
  ASSERT_TRUE(sampled(1));
  EXPECT_EQ(sample(ctx_, "eventstreams_client_lag_records_sum"), 500);
  EXPECT_EQ(sample(ctx_, "eventstreams_client_lag_seconds_sum"), 12.5);
  EXPECT_EQ(ctx_.metrics.clients_lagging().Value(), 1);
  session->sample_lag();  // still lagging: counted once
  ASSERT_TRUE(sampled(2));
  EXPECT_EQ(ctx_.metrics.clients_lagging().Value(), 1);

  src_->lag = source_lag{3, 10};  // behind, but not more than 10 s
  session->sample_lag();
  ASSERT_TRUE(sampled(3));
  EXPECT_EQ(ctx_.metrics.clients_lagging().Value(), 0);

  src_->lag = source_lag{7, 30};
  session->sample_lag();
  ASSERT_TRUE(sampled(4));
  EXPECT_EQ(ctx_.metrics.clients_lagging().Value(), 1);
  session.reset();
  // A stream that ends is no longer counted.
  client_.shutdown(tcp::socket::shutdown_send);
  ASSERT_TRUE(run_until([&] { return src_->closed; }));
  EXPECT_EQ(ctx_.metrics.clients_lagging().Value(), 0);
}

// The sampler adds the streams of a strand to the histograms at once (lag_batch): each sample
// lands in the bucket that prometheus::Histogram::Observe would have chosen.
TEST(LagBatch, SamplesLandInTheBucketsObserveWouldChoose) {
  const std::vector<std::int64_t> records{0, 1, 2, 10, 11, 999, 1000, 10000000, 10000001};
  const std::vector<double> seconds{0, 0.4, 0.5, 0.6, 1, 2.5, 30, 86400, 86401};
  prometheus::Histogram by_records{
      {lag_batch::records_bounds.begin(), lag_batch::records_bounds.end()}};
  prometheus::Histogram by_seconds{
      {lag_batch::seconds_bounds.begin(), lag_batch::seconds_bounds.end()}};
  lag_batch batch;
  for (std::size_t i = 0; i < records.size(); ++i) {
    by_records.Observe(static_cast<double>(records[i]));
    by_seconds.Observe(seconds[i]);
    batch.add(records[i], seconds[i]);
  }
  batch.lagging(true);
  metrics m;
  m.observe_client_lag(batch);
  const std::string text = m.render();
  auto expect_same = [&](const std::string& name, const prometheus::Histogram& h,
                         const auto& bounds) {
    const auto collected = h.Collect().histogram;
    ASSERT_EQ(collected.bucket.size(), bounds.size() + 1);
    for (std::size_t b = 0; b < collected.bucket.size(); ++b) {
      std::ostringstream le;
      if (b < bounds.size())
        le << std::setprecision(17) << bounds[b];
      else
        le << "+Inf";
      const std::string key = name + "_bucket{le=\"" + le.str() + "\"} ";
      const auto at = text.find(key);
      ASSERT_NE(at, std::string::npos) << key;
      EXPECT_EQ(std::stod(text.substr(at + key.size())),
                static_cast<double>(collected.bucket[b].cumulative_count))
          << key;
    }
    EXPECT_EQ(sample_of(text, name + "_sum"), collected.sample_sum) << name;
    EXPECT_EQ(sample_of(text, name + "_count"), static_cast<double>(records.size())) << name;
  };
  expect_same("eventstreams_client_lag_records", by_records, lag_batch::records_bounds);
  expect_same("eventstreams_client_lag_seconds", by_seconds, lag_batch::seconds_bounds);
  EXPECT_EQ(m.clients_lagging().Value(), 1);
}

TEST_F(SessionTest, BackpressurePausesDrainingWhileTheClientDoesNotReadAndResumesWhenItDoes) {
  ctx_.cfg.server.max_buffered_bytes = 4096;
  connect(/*small_buffers=*/true);
  const std::string pad(1000, 'x');
  constexpr std::size_t total = 5000;  // about 5 MB of events
  for (std::size_t i = 0; i < total; ++i)
    src_->push(0, "a", static_cast<std::int64_t>(5 + i), R"({"pad":")" + pad + "\"}");
  start();
  // The client reads nothing: the socket buffers fill, then the writer, then draining stops.
  run_for(300ms, /*read=*/false);
  const auto taken = src_->taken;
  const auto polls = src_->polls;
  EXPECT_GT(taken, 0u);
  EXPECT_LT(taken, total / 4) << "kept encoding although nothing was written";
  run_for(200ms, /*read=*/false);
  EXPECT_EQ(src_->taken, taken);  // paused: no poll while the writer is full
  EXPECT_EQ(src_->polls, polls);
  EXPECT_FALSE(src_->waiter.has_value());  // not waiting for records either

  // The client reads: draining resumes and every event arrives, once, in order.
  ASSERT_TRUE(run_until([&] { return src_->waiter.has_value(); }, 20s)) << src_->taken;
  ASSERT_TRUE(run_until([&] { return count(body().data, "event: message") == total; }, 20s));
  EXPECT_EQ(src_->taken, total);
  auto data = body().data;
  EXPECT_NE(data.find(R"("offset":5},"pad")"), std::string::npos);
  EXPECT_NE(data.find(R"("offset":)" + std::to_string(5 + total - 1) + R"(},"pad")"),
            std::string::npos);
  EXPECT_EQ(ctx_.metrics.events_sent("s").Value(), static_cast<double>(total));
}

TEST_F(SessionTest, AClientThatStopsReadingIsClosedAfterTheStallTimeout) {
  ctx_.cfg.server.max_buffered_bytes = 4096;
  ctx_.cfg.server.stall_timeout = 200ms;
  connect(/*small_buffers=*/true);
  const std::string pad(1000, 'x');
  for (std::size_t i = 0; i < 2000; ++i)
    src_->push(0, "a", static_cast<std::int64_t>(5 + i), R"({"pad":")" + pad + "\"}");
  start();
  ASSERT_TRUE(run_until([&] { return src_->closed; }, 5s, /*read=*/false));
  EXPECT_EQ(ctx_.metrics.clients_disconnected("stalled").Value(), 1);
  EXPECT_LT(src_->taken, 2000u);
}

// The writer sends what the socket has room for at once, and only the rest asynchronously:
// the bytes on the wire are the same either way, in order, counted once.
TEST_F(SessionTest, TheWriterSendsAtOnceWhatTheSocketTakesAndTheRestAsynchronously) {
  connect(/*small_buffers=*/true);
  stream_writer w(std::move(*server_), /*chunked=*/true, 1 << 24, 5s);
  server_.reset();
  w.set_header(header);
  int done = 0;
  std::size_t async_bytes = 0;
  beast::error_code async_ec;
  auto on_done = [&](beast::error_code ec, std::size_t n) {
    w.written(n);
    ++done;
    async_bytes += n;
    async_ec = ec;
  };
  auto on_stall = [] { ADD_FAILURE() << "stalled"; };
  // The handlers are made only for an asynchronous write.
  int made = 0;
  auto make_done = [&] {
    ++made;
    return on_done;
  };
  auto make_stall = [&] {
    ++made;
    return on_stall;
  };

  // Room: written at once, no write in flight, no completion.
  w.pending() = "hello";
  ASSERT_EQ(w.flush(false, make_done, make_stall), stream_writer::flush_result::written);
  EXPECT_EQ(made, 0);
  const std::size_t first =
      std::string_view(header).size() + std::string_view("5\r\nhello\r\n").size();
  EXPECT_EQ(w.take_sent_now(), first);
  EXPECT_EQ(w.take_sent_now(), 0u);
  EXPECT_FALSE(w.writing());
  EXPECT_EQ(w.bytes_written(), first);

  // Shared chunks far larger than the socket's buffers: part goes at once, the rest (from the
  // middle of a segment) asynchronously.
  auto a = std::make_shared<std::string>(300000, 'a');
  auto b = std::make_shared<std::string>(300000, 'b');
  (*a)[0] = 'A';
  (*b)[299999] = 'B';
  w.push_framed(*a, a);
  w.pending() = "own";  // sealed as its own chunk between the two
  w.push_framed(*b, b);
  ASSERT_EQ(w.flush(true, make_done, make_stall), stream_writer::flush_result::started);
  EXPECT_EQ(made, 2);
  const std::size_t now = w.take_sent_now();
  EXPECT_LT(now, a->size());
  EXPECT_TRUE(w.writing());
  ASSERT_TRUE(run_until([&] { return done == 1; }, 10s));
  EXPECT_FALSE(async_ec);
  const std::size_t total = first + a->size() + std::string_view("3\r\nown\r\n").size() +
                            b->size() + std::string_view("0\r\n\r\n").size();
  EXPECT_EQ(now + async_bytes, total - first);
  EXPECT_EQ(w.bytes_written(), total);
  ASSERT_TRUE(run_until([&] { return received_.size() == total; }));
  EXPECT_EQ(received_,
            std::string(header) + "5\r\nhello\r\n" + *a + "3\r\nown\r\n" + *b + "0\r\n\r\n");
  w.close();
}

}  // namespace
}  // namespace eventstreams::test
