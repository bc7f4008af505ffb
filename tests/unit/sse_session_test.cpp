// A streaming session driven against a fake event source, no Kafka: the bytes it writes for given
// records (API.md §5.1, §5.2, §5.5), its keepalives, backpressure, ends, and what it does with
// its source. The socket is a loopback TCP pair; the test thread runs the I/O loop.
#include "sse/sse_session.hpp"

#include <gtest/gtest.h>

#include <charconv>
#include <chrono>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "eventstreams/problem.hpp"
#include "fake_source.hpp"

namespace eventstreams {
namespace {

using namespace std::chrono_literals;
using test::fake_source;

constexpr const char* header = "HTTP/1.1 200 OK\r\nX-Test: 1\r\n\r\n";
constexpr const char* start_id = R"([{"topic":"a","partition":0,"offset":5},)"
                                 R"({"topic":"b","partition":0,"offset":7}])";
constexpr const char* canary = R"({"meta":{"domain":"canary"},"n":1})";

// The body of a chunked response: the chunks' data, and whether the final chunk came.
struct dechunked {
  std::string data;
  bool complete = false;
  bool valid = true;
};

dechunked dechunk(std::string_view raw) {
  dechunked out;
  while (!raw.empty()) {
    auto eol = raw.find("\r\n");
    if (eol == std::string_view::npos)
      return out;  // a chunk header still on its way
    std::size_t size = 0;
    auto hex = raw.substr(0, eol);
    if (hex.empty() || std::from_chars(hex.data(), hex.data() + hex.size(), size, 16).ptr !=
                           hex.data() + hex.size()) {
      out.valid = false;
      return out;
    }
    if (size == 0) {
      out.complete = raw.substr(eol) == "\r\n\r\n";
      out.valid = out.complete || raw.size() < eol + 4;
      return out;
    }
    if (raw.size() < eol + 2 + size + 2)
      return out;  // the rest of the chunk is on its way
    out.data += raw.substr(eol + 2, size);
    if (raw.substr(eol + 2 + size, 2) != "\r\n") {
      out.valid = false;
      return out;
    }
    raw.remove_prefix(eol + 2 + size + 2);
  }
  return out;
}

class SessionTest : public ::testing::Test {
 protected:
  SessionTest() {
    ctx_.blocking = &pool_;
    ctx_.cfg.server.heartbeat_interval = 0ms;  // off unless a test turns it on
  }
  ~SessionTest() override {
    // Let a session that is still open close, so that its source is retired before the pool.
    if (auto s = session_.lock())
      s->end("test over");
    client_.close();
    run_for(50ms);
    pool_.join();
  }

  // A connected loopback pair; `small_buffers` shrinks the kernel's socket buffers so that a
  // client that does not read fills them after a few KB.
  void connect(bool small_buffers = false) {
    tcp::acceptor acceptor(ioc_, {net::ip::make_address("127.0.0.1"), 0});
    client_.open(tcp::v4());
    if (small_buffers)
      client_.set_option(net::socket_base::receive_buffer_size(4096));
    client_.connect(acceptor.local_endpoint());
    tcp::socket server = acceptor.accept(net::make_strand(ioc_));
    if (small_buffers)
      server.set_option(net::socket_base::send_buffer_size(4096));
    client_.non_blocking(true);
    server_.emplace(std::move(server));
  }

  // Starts a session on the server end, reading `source_` (two partitions: a/0 at 5, b/0 at 7;
  // canaries pass in b only).
  void start(framing body = framing::sse) {
    if (!server_)
      connect();
    stream_request req;
    req.client = "127.0.0.1:1";
    req.method = "GET";
    req.target = "/v2/stream/s";
    req.body = body;
    req.selection.stream_names = {"s"};
    req.opened = std::chrono::steady_clock::now();
    auto source = std::make_unique<fake_source>(src_);
    auto ex = server_->get_executor();
    EXPECT_EQ(source->attach(ex), std::nullopt);
    position_vector positions({{"a", 0, 5, std::nullopt}, {"b", 0, 7, std::nullopt}});
    auto& counter = ctx_.metrics.events_sent("s");
    auto session = std::make_shared<sse_session>(
        std::move(*server_),
        opened_stream{std::move(req),
                      header,
                      stream_format(body, std::move(positions), {false, true}),
                      {&counter, &counter},
                      std::move(source)},
        ctx_);
    server_.reset();
    session_ = session;
    net::post(ex, [session] { session->start(); });
  }

  // Runs the I/O loop for `d`, reading what the client received when `read` is set.
  void run_for(std::chrono::milliseconds d, bool read = true) {
    auto deadline = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < deadline) {
      ioc_.restart();
      ioc_.run_for(2ms);
      if (read)
        read_available();
    }
  }
  // Runs the I/O loop until `pred` holds (false after `timeout`), reading when `read` is set.
  bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 5s,
                 bool read = true) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= deadline)
        return false;
      run_for(2ms, read);
    }
    return true;
  }
  void read_available() {
    if (eof_ || !client_.is_open())
      return;
    char buf[65536];
    for (;;) {
      beast::error_code ec;
      std::size_t n = client_.read_some(net::buffer(buf), ec);
      received_.append(buf, n);
      if (ec == net::error::eof) {
        eof_ = true;
        return;
      }
      if (ec)
        return;  // would_block
    }
  }
  // What came after the response header.
  std::string_view raw_body() const {
    std::string_view r(received_);
    return r.starts_with(header) ? r.substr(std::string_view(header).size()) : std::string_view{};
  }
  dechunked body() const { return dechunk(raw_body()); }

  static std::size_t count(std::string_view s, std::string_view what) {
    std::size_t n = 0;
    for (auto pos = s.find(what); pos != std::string_view::npos; pos = s.find(what, pos + 1))
      ++n;
    return n;
  }

  // The pool and the context outlive the I/O loop: a session still queued there at the end
  // retires its source when the loop is destroyed.
  net::thread_pool pool_{1};
  server_context ctx_;
  net::io_context ioc_;
  tcp::socket client_{ioc_};
  std::optional<beast::tcp_stream> server_;
  std::shared_ptr<fake_source::state> src_ = std::make_shared<fake_source::state>();
  std::weak_ptr<sse_session> session_;
  std::string received_;
  bool eof_ = false;
};

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

}  // namespace
}  // namespace eventstreams
