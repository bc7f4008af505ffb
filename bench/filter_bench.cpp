// Micro-benchmark of server-side filters (docs/api.md "Server-side filters") on ~1 KB
// recentchange events: per-record cost with 1, 8 and 64 predicates (all evaluated, and rejected
// by the first), a 1 % filter over 150,000 events (records scanned per second), and a DOM
// parse (nlohmann) of the same event for scale. No sockets, no broker.
// Usage: filter_bench [iterations]   (default 200000). Prints ns/record and records/s.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "micro_timing.hpp"
#include "eventstreams/filter.hpp"

namespace ef = eventstreams::filter;

namespace bench = eventstreams::bench;

namespace {

using bench::clock_type;
using bench::sink;

// A recentchange event of the public stream's shape (~1 KB); `wiki` varies per record.
std::string event(const std::string& wiki, int n) {
  return R"({"$schema":"/mediawiki/recentchange/1.0.0","meta":{"uri":"https://en.wikipedia.org/wiki/)"
         R"(Albert_Einstein","request_id":"9a6c0a5e-1b2c-4a7e-9c1e-2b3f4a5b6c7d","id":"2e1d3c4b-)"
         R"(5a6f-4e7d-8c9b-0a1b2c3d4e5f","dt":"2024-06-01T12:34:56.789Z","domain":"en.wikipedia.org",)"
         R"("stream":"mediawiki.recentchange","topic":"eqiad.mediawiki.recentchange","partition":0,)"
         R"("offset":)" +
         std::to_string(5123456789LL + n) +
         R"(},"id":1789012345,"type":"edit","namespace":0,"title":"Albert Einstein","title_url":)"
         R"("https://en.wikipedia.org/wiki/Albert_Einstein","comment":"/* Early life */ copyedit, )"
         R"(fix \"citation needed\" tags","timestamp":1717245296,"user":"ExampleUser","bot":false,)"
         R"("notify_url":"https://en.wikipedia.org/w/index.php?diff=1226789012&oldid=1226788000",)"
         R"("minor":true,"patrolled":true,"length":{"old":187234,"new":187301},"revision":{"old":)"
         R"(1226788000,"new":1226789012},"server_url":"https://en.wikipedia.org","server_name":)"
         R"("en.wikipedia.org","server_script_path":"/w","wiki":")" +
         wiki +
         R"(","parsedcomment":"<span dir=\"auto\"><span class=\"autocomment\"><a href=\"/wiki/)"
         R"(Albert_Einstein#Early_life\" title=\"Albert Einstein\">→‎Early life</a>: </span> )"
         R"(copyedit, fix &quot;citation needed&quot; tags</span>"})";
}

// `n` predicates that all hold on the event, the cheap ones first in the text (the evaluator
// orders by cost anyway), so every one is evaluated.
std::vector<std::string> passing_filter(int n) {
  const std::vector<std::string> kinds = {"wiki=enwiki",
                                          "namespace=0",
                                          "!bot",
                                          "minor",
                                          "type=edit,new",
                                          "length.new>100",
                                          "title^=Albert",
                                          "server_name$=.org",
                                          "comment*=copyedit",
                                          "meta.domain=en.wikipedia.org",
                                          "sub(length.new,length.old)>0",
                                          "user!=Someone",
                                          "revision.new>=1",
                                          "has(patrolled)",
                                          "title=~'A.*'",
                                          "len(title)>3"};
  std::vector<std::string> out;
  std::string clause;
  for (int i = 0; i < n; ++i) {
    // Distinct predicates (a repeated one would be merged away): past the 16 kinds, orderings
    // with distinct constants, all true.
    std::string p = i < static_cast<int>(kinds.size()) ? kinds[static_cast<std::size_t>(i)]
                                                       : "length.new>" + std::to_string(i);
    clause += (clause.empty() ? "" : ";") + p;
  }
  out.push_back(clause);
  return out;
}

void report(const char* name, double ns) {
  std::printf("%-46s %9.1f ns/record %11.0f records/s\n", name, ns, 1e9 / ns);
}

}  // namespace

int main(int argc, char** argv) {
  const long iterations = bench::iterations_arg(argc, argv, 200000, "filter_bench");
  if (iterations == 0)
    return 2;
  const std::string one = event("enwiki", 0);
  std::printf("event: %zu bytes; %ld iterations per row\n", one.size(), iterations);
  ef::scratch work;
  ef::record_view record;
  record.value = one;
  record.topic = "eqiad.mediawiki.recentchange";
  record.offset = 1;
  record.timestamp = 1717245296000;

  for (const int n : {1, 8, 64}) {
    auto made = ef::compile(passing_filter(n), ef::limits{});
    if (made.error) {
      std::fprintf(stderr, "filter of %d predicates: %s\n", n, made.error->detail.c_str());
      return 1;
    }
    std::size_t hits = 0;
    const double ns = bench::ns_per_iteration(
        iterations, [&](long) { hits += made.filter->matches(record, work); });
    sink = sink + hits;
    if (hits != static_cast<std::size_t>(iterations)) {
      std::fprintf(stderr, "the %d-predicate filter did not match every record\n", n);
      return 1;
    }
    const std::string name = "filter, " + std::to_string(n) + " predicate(s), all evaluated";
    report(name.c_str(), ns);
  }
  {
    auto made =
        ef::compile(std::vector<std::string>{"wiki=nlwiki", "namespace=0", "!bot"}, ef::limits{});
    const double ns = bench::ns_per_iteration(
        iterations, [&](long) { sink = sink + made.filter->matches(record, work); });
    report("filter, rejected by its first predicate", ns);
  }
  {
    auto made =
        ef::compile(std::vector<std::string>{"$topic=eqiad.mediawiki.recentchange"}, ef::limits{});
    const double ns = bench::ns_per_iteration(
        iterations, [&](long) { sink = sink + made.filter->matches(record, work); });
    report("filter on $topic only (no payload read)", ns);
  }
  {
    const double ns = bench::ns_per_iteration(
        iterations / 4, [&](long) { sink = sink + nlohmann::json::parse(one).size(); });
    report("for scale: nlohmann::json::parse (a DOM)", ns);
  }
  {
    // Catch-up: 150,000 records, 1 % of them on the wiki the filter selects.
    std::vector<std::string> records;
    records.reserve(150000);
    for (int i = 0; i < 150000; ++i)
      records.push_back(event(i % 100 == 0 ? "smallwiki" : "enwiki", i));
    auto made = ef::compile(std::vector<std::string>{"wiki=smallwiki"}, ef::limits{});
    std::size_t hits = 0;
    const auto start = clock_type::now();
    for (const auto& r : records) {
      record.value = r;
      hits += made.filter->matches(record, work);
    }
    const std::chrono::duration<double> s = clock_type::now() - start;
    std::printf("%-46s %9.1f ns/record %11.0f records/s (%zu of %zu matched)\n",
                "catch-up, 150,000 records, 1 % filter", s.count() * 1e9 / 150000.0,
                150000.0 / s.count(), hits, records.size());
  }
  return 0;
}
