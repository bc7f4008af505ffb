// The test clients' SSE decoder (tests/support/sse_parser.hpp): its count mode, which the load
// benchmark's clients use on most of their connections, sees the same blocks and comments as the
// full decoding, however the response is cut into reads.
#include "sse_parser.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace {

using eventstreams::test::sse_parser;

// What count mode promises about each block: everything but the id and data values.
struct seen {
  std::vector<std::string> items;
  void attach(sse_parser& p) {
    sse_parser::callbacks cb;
    cb.on_block = [this](const sse_parser::block& b) {
      items.push_back("block type=" + std::string(b.type) + " id=" + std::to_string(b.has_id) +
                      " data=" + std::to_string(b.has_data) +
                      " retry=" + (b.retry ? std::to_string(*b.retry) : "-"));
    };
    cb.on_comment = [this](std::string_view c) { items.push_back("comment " + std::string(c)); };
    p.set_callbacks(std::move(cb));
  }
};

std::string chunked(const std::vector<std::string>& chunks) {
  std::string out =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (const auto& c : chunks) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", c.size());
    out += size + c + "\r\n";
  }
  return out + "0\r\n\r\n";
}

// A body with what the daemon sends (docs/api.md §5): the preamble, events whose id and data
// lines are far longer than what count mode keeps, an id-only block, heartbeats, a retry, an
// error event, CRLF line ends and a two-line data field; cut into chunks mid-line.
std::string response() {
  const std::string id(2700, 'i');
  const std::string data = R"({"bench_sent_ns":1,"meta":{"topic":"t","partition":0,"offset":5},)" +
                           std::string(1000, 'x') + "}";
  std::string body = ":ok\n\n";
  for (int i = 0; i < 5; ++i)
    body += "event: message\nid: " + id + "\ndata: " + data + "\n\n";
  body += "id: " + id + "\n\n";  // a position without an event
  body += ": heartbeat\n\n";
  body += "retry: 2000\n\n";
  body += "retry: 12x\nid: 1\n\n";               // a retry EventSource ignores
  body += "data: one\r\ndata: two\r\n\r\n";      // CRLF, two data lines
  body += ":" + std::string(200, 'c') + "\n\n";  // a long comment: count mode keeps 63 bytes
  body += "event: error\ndata: {\"title\":\"gone\"}\n\n";
  std::vector<std::string> chunks;
  for (std::size_t at = 0; at < body.size(); at += 777)
    chunks.push_back(body.substr(at, 777));
  return chunked(chunks);
}

std::vector<std::string> decode(const std::string& bytes, bool count_only,
                                const std::vector<std::size_t>& cuts) {
  sse_parser p("GET", /*keep=*/false);
  p.set_count_only(count_only);
  seen s;
  s.attach(p);
  std::size_t at = 0;
  for (std::size_t cut : cuts) {
    p.feed(bytes.data() + at, cut - at);
    at = cut;
  }
  p.feed(bytes.data() + at, bytes.size() - at);
  EXPECT_EQ(p.protocol_error(), "");
  EXPECT_TRUE(p.terminator_received());
  EXPECT_FALSE(p.inside_block());
  return s.items;
}

std::vector<std::string> cut_comment(std::vector<std::string> items) {
  for (auto& i : items) {
    if (i.starts_with("comment cc"))
      i = i.substr(0, 8 + 63);
  }
  return items;
}

TEST(SseParserCountMode, SeesTheBlocksAndCommentsOfTheFullDecoding) {
  const std::string bytes = response();
  const auto full = decode(bytes, false, {});
  // The full decoding, against what the body holds.
  ASSERT_EQ(full.size(), 13u);
  EXPECT_EQ(full[0], "comment ok");
  EXPECT_EQ(full[1], "block type=message id=1 data=1 retry=-");
  EXPECT_EQ(full[6], "block type= id=1 data=0 retry=-");
  EXPECT_EQ(full[7], "comment  heartbeat");
  EXPECT_EQ(full[8], "block type= id=0 data=0 retry=2000");
  EXPECT_EQ(full[9], "block type= id=1 data=0 retry=-");
  EXPECT_EQ(full[10], "block type= id=0 data=1 retry=-");
  EXPECT_EQ(full[12], "block type=error id=0 data=1 retry=-");
  EXPECT_EQ(decode(bytes, true, {}), cut_comment(full));
  // Cut into reads anywhere: 1-byte reads, and random ones.
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < bytes.size(); ++i)
    every.push_back(i);
  EXPECT_EQ(decode(bytes, true, every), cut_comment(full));
  std::mt19937 rng(7);
  for (int run = 0; run < 50; ++run) {
    std::vector<std::size_t> cuts;
    for (std::size_t at = 0;;) {
      at += 1 + rng() % 300;
      if (at >= bytes.size())
        break;
      cuts.push_back(at);
    }
    EXPECT_EQ(decode(bytes, true, cuts), cut_comment(full)) << "run " << run;
  }
}

TEST(SseParserCountMode, KeepsNoBodyAndTellsACutBlock) {
  sse_parser p("GET", /*keep=*/false);
  p.set_count_only(true);
  seen s;
  s.attach(p);
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string line = "data: " + std::string(5000, 'x');
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", line.size());
  const std::string bytes = head + size + line + "\r\n";
  p.feed(bytes.data(), bytes.size());
  EXPECT_TRUE(s.items.empty());
  EXPECT_TRUE(p.inside_block());  // a line without its end: the stream was cut mid-event
  EXPECT_TRUE(p.body().empty());
  EXPECT_EQ(p.body_bytes(), line.size());
  const std::string end = "2\r\n\n\n\r\n";
  p.feed(end.data(), end.size());
  ASSERT_EQ(s.items.size(), 1u);
  EXPECT_EQ(s.items[0], "block type= id=0 data=1 retry=-");
  EXPECT_FALSE(p.inside_block());
}

}  // namespace
