// The benchmark's synthetic recentchange events (about 1 KB each).
#include "recentchange_event.hpp"

#include <array>
#include <ctime>
#include <string_view>

#include "eventstreams/event_encoder.hpp"  // append_int

namespace bench {
namespace {

struct wiki {
  std::string_view db, domain;
};
constexpr std::array<wiki, 6> wikis{{{"enwiki", "en.wikipedia.org"},
                                     {"dewiki", "de.wikipedia.org"},
                                     {"frwiki", "fr.wikipedia.org"},
                                     {"commonswiki", "commons.wikimedia.org"},
                                     {"wikidatawiki", "www.wikidata.org"},
                                     {"jawiki", "ja.wikipedia.org"}}};
constexpr std::array<std::string_view, 4> types{"edit", "new", "log", "categorize"};
constexpr std::array<std::string_view, 4> comments{
    R"(/* Early life */ copyedit, fix \"citation needed\")",
    R"(Reverted edits by [[Special:Contributions/203.0.113.7]])",
    R"(→‎References: add {{cite web}}, remove dead link)",
    R"(Created page with \"'''Example''' is a village.\")"};

using eventstreams::append_int;

void append_hex(std::string& out, std::uint64_t v, int digits) {
  static constexpr char hex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i)
    out.push_back(hex[(v >> (4 * i)) & 0xF]);
}

void append_uuid(std::string& out, std::uint64_t seed) {
  std::uint64_t a = seed * 0x9E3779B97F4A7C15ULL, b = (seed + 17) * 0xC2B2AE3D27D4EB4FULL;
  append_hex(out, a >> 32, 8);
  out.push_back('-');
  append_hex(out, a >> 16, 4);
  out += "-4";
  append_hex(out, a, 3);
  out += "-8";
  append_hex(out, b >> 48, 3);
  out.push_back('-');
  append_hex(out, b, 12);
}

}  // namespace

void make_event(std::uint64_t seq, std::int64_t sent_ns, std::string& out, std::uint64_t titles) {
  const wiki& w = wikis[seq % wikis.size()];
  const std::int64_t secs = sent_ns / 1000000000;
  char dt[32];
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::strftime(dt, sizeof dt, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string title = "Bench_";
  append_int(title, seq % titles);
  const std::string_view comment = comments[seq % comments.size()];
  const std::uint64_t rev = 1226788000 + seq;

  out += R"({"bench_sent_ns":)";
  append_int(out, sent_ns);
  out += R"(,"bench_seq":)";
  append_int(out, seq);
  out += R"(,"$schema":"/mediawiki/recentchange/1.0.0","meta":{"uri":"https://)";
  out += w.domain;
  out += "/wiki/";
  out += title;
  out += R"(","request_id":")";
  append_uuid(out, seq);
  out += R"(","id":")";
  append_uuid(out, seq ^ 0x5bd1e995);
  out += R"(","dt":")";
  out += dt;
  out += ".";
  append_int(out, 100 + (sent_ns / 1000000) % 900);
  out += R"(Z","domain":")";
  out += w.domain;
  out += R"(","stream":"mediawiki.recentchange"},"id":)";
  append_int(out, 1789012345 + seq);
  out += R"(,"type":")";
  out += types[seq % types.size()];
  out += R"(","namespace":)";
  append_int(out, seq % 15 == 0 ? 14 : 0);
  out += R"(,"title":")";
  out += title;
  out += R"(","title_url":"https://)";
  out += w.domain;
  out += "/wiki/";
  out += title;
  out += R"(","comment":")";
  out += comment;
  out += R"(","timestamp":)";
  append_int(out, secs);
  out += R"(,"user":"BenchUser)";
  append_int(out, seq % 997);
  out += R"(","bot":)";
  out += seq % 7 == 0 ? "true" : "false";
  out += R"(,"notify_url":"https://)";
  out += w.domain;
  out += "/w/index.php?diff=";
  append_int(out, rev);
  out += "&oldid=";
  append_int(out, rev - 1);
  out += R"(","minor":)";
  out += seq % 3 == 0 ? "true" : "false";
  out += R"(,"patrolled":)";
  out += seq % 2 == 0 ? "true" : "false";
  out += R"(,"length":{"old":)";
  append_int(out, 10000 + seq % 90000);
  out += R"(,"new":)";
  append_int(out, 10000 + (seq * 7) % 90000);
  out += R"(},"revision":{"old":)";
  append_int(out, rev - 1);
  out += R"(,"new":)";
  append_int(out, rev);
  out += R"(},"server_url":"https://)";
  out += w.domain;
  out += R"(","server_name":")";
  out += w.domain;
  out += R"(","server_script_path":"/w","wiki":")";
  out += w.db;
  out += R"(","parsedcomment":"<span class=\"autocomment\">→‎Section: </span> )";
  out += comment;
  out += R"("})";
}

}  // namespace bench
