// Micro-benchmark of the per-event hot path: meta splice, id rendering, SSE framing.
// Usage: encode_bench [iterations]   (default 200000). Prints ns/event and input MB/s.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "micro_timing.hpp"
#include "eventstreams/event_encoder.hpp"
#include "eventstreams/position_vector.hpp"

namespace bench = eventstreams::bench;

namespace {

using bench::sink;

// A recentchange event as the public stream carries it (about 1 KB, meta with 9 members,
// some non-ASCII and escaped text).
constexpr std::string_view event =
    R"({"$schema":"/mediawiki/recentchange/1.0.0","meta":{"uri":"https://en.wikipedia.org/wiki/)"
    R"(Albert_Einstein","request_id":"9a6c0a5e-1b2c-4a7e-9c1e-2b3f4a5b6c7d","id":"2e1d3c4b-5a6f-)"
    R"(4e7d-8c9b-0a1b2c3d4e5f","dt":"2024-06-01T12:34:56.789Z","domain":"en.wikipedia.org",)"
    R"("stream":"mediawiki.recentchange","topic":"eqiad.mediawiki.recentchange","partition":0,)"
    R"("offset":5123456789},"id":1789012345,"type":"edit","namespace":0,"title":"Albert )"
    R"(Einstein","title_url":"https://en.wikipedia.org/wiki/Albert_Einstein","comment":"/* )"
    R"(Early life */ copyedit, fix \"citation needed\" tags","timestamp":1717245296,"user":)"
    R"("ExampleUser","bot":false,"notify_url":"https://en.wikipedia.org/w/index.php?diff=)"
    R"(1226789012&oldid=1226788000","minor":true,"patrolled":true,"length":{"old":187234,"new":)"
    R"(187301},"revision":{"old":1226788000,"new":1226789012},"server_url":"https://en.)"
    R"(wikipedia.org","server_name":"en.wikipedia.org","server_script_path":"/w","wiki":)"
    R"("enwiki","parsedcomment":"<span dir=\"auto\"><span class=\"autocomment\"><a href=\")"
    R"(/wiki/Albert_Einstein#Early_life\" title=\"Albert Einstein\">→‎Early life</a>: </span>)"
    R"( copyedit, fix &quot;citation needed&quot; tags</span>"})";

constexpr std::string_view topic = "eqiad.mediawiki.recentchange";

void report(const char* name, double ns) {
  const double mb_per_s = static_cast<double>(event.size()) / ns * 1e9 / 1e6;
  std::printf("%-34s %9.1f ns/event %9.1f MB/s %10.0f events/s\n", name, ns, mb_per_s, 1e9 / ns);
}

}  // namespace

int main(int argc, char** argv) {
  const long iterations = bench::iterations_arg(argc, argv, 200000, "encode_bench");
  if (iterations == 0)
    return 2;
  std::string data;
  if (eventstreams::splice_meta(event, topic, 0, 1, data) != eventstreams::splice_result::ok) {
    std::fprintf(stderr, "benchmark event does not splice\n");
    return 1;
  }
  std::printf("event: %zu bytes, %ld iterations\n", event.size(), iterations);

  // The splice alone, into a buffer reused like a session's per-event scratch.
  report("splice_meta", bench::ns_per_iteration(iterations, [&](long i) {
           data.clear();
           bool canary = false;
           eventstreams::splice_meta(event, topic, 0, i, data, &canary);
           sink = sink + data.size() + (canary ? 1 : 0);
         }));

  // What a session does per event: splice, advance the position, render the id, frame it into
  // the write buffer, which is flushed (cleared here) every 64 events as one socket write.
  eventstreams::position_vector positions(
      {{"eqiad.mediawiki.recentchange", 0, 0, std::nullopt},
       {"codfw.mediawiki.recentchange", 0, 88913, 1717245000000}});
  std::string batch;
  report("splice + advance + id + sse frame", bench::ns_per_iteration(iterations, [&](long i) {
           data.clear();
           bool canary = false;
           if (eventstreams::splice_meta(event, topic, 0, i, data, &canary) ==
               eventstreams::splice_result::ok) {
             positions.advance(0, i, 1717245296000 + i);
             eventstreams::append_sse_event(batch, positions.id(), data);
           }
           if (i % 64 == 63) {
             sink = sink + batch.size();
             batch.clear();
           }
         }));

  // For scale: the DOM round trip the splice avoids (PLATFORM.md quotes 15-20 us).
  const long dom_iterations = iterations / 10 > 0 ? iterations / 10 : 1;
  report("nlohmann parse + set + dump (ref)", bench::ns_per_iteration(dom_iterations, [&](long i) {
           auto doc = nlohmann::json::parse(event);
           doc["meta"]["topic"] = topic;
           doc["meta"]["partition"] = 0;
           doc["meta"]["offset"] = i;
           sink = sink + doc.dump().size();
         }));
  return 0;
}
