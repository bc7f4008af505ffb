// Tests of the meta splice, SSE/NDJSON framing and JSON string escaping (API.md §5.2).
#include "eventstreams/event_encoder.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace {

using eventstreams::splice_meta;
using eventstreams::splice_result;
using ordered_json = nlohmann::ordered_json;

// Splices and expects success; the result is always one line.
std::string splice(std::string_view in, std::string_view topic = "t", std::int32_t partition = 3,
                   std::int64_t offset = 42, bool* canary = nullptr) {
  std::string out;
  EXPECT_EQ(splice_meta(in, topic, partition, offset, out, canary), splice_result::ok) << in;
  EXPECT_EQ(out.find_first_of("\r\n"), std::string::npos) << out;
  return out;
}

// What a DOM-based implementation would produce: meta gets topic/partition/offset first, then
// its other members in order; a missing meta becomes the first member.
ordered_json reference(std::string_view in, std::string_view topic, std::int32_t partition,
                       std::int64_t offset) {
  ordered_json doc = ordered_json::parse(in);
  ordered_json meta = ordered_json::object();
  meta["topic"] = topic;
  meta["partition"] = partition;
  meta["offset"] = offset;
  const auto found = doc.find("meta");
  if (found != doc.end() && found->is_object()) {
    for (const auto& [key, value] : found->items()) {
      if (key != "topic" && key != "partition" && key != "offset") {
        meta[key] = value;
      }
    }
  }
  if (found != doc.end()) {
    *found = meta;
    return doc;
  }
  ordered_json result = ordered_json::object();
  result["meta"] = meta;
  for (const auto& [key, value] : doc.items()) {
    result[key] = value;
  }
  return result;
}

// Round trip: the output parses to the reference object, member order included.
void expect_round_trip(std::string_view in, std::string_view topic = "t",
                       std::int32_t partition = 3, std::int64_t offset = 42) {
  const std::string out = splice(in, topic, partition, offset);
  ordered_json parsed;
  ASSERT_NO_THROW(parsed = ordered_json::parse(out)) << out;
  EXPECT_EQ(parsed, reference(in, topic, partition, offset)) << "in:  " << in << "\nout: " << out;
}

TEST(SpliceMeta, InsertsMetaFirstWhenAbsent) {
  EXPECT_EQ(splice(R"({"a":1,"b":"x"})"),
            R"({"meta":{"topic":"t","partition":3,"offset":42},"a":1,"b":"x"})");
  expect_round_trip(R"({"a":1,"b":"x","c":[1,2,{"d":null}]})");
}

TEST(SpliceMeta, EmptyObject) {
  const std::string want = R"({"meta":{"topic":"t","partition":3,"offset":42}})";
  EXPECT_EQ(splice("{}"), want);
  EXPECT_EQ(splice(" \t{ \r\n }\n "), want);
}

TEST(SpliceMeta, ReplacesFieldsWhereverTheyAreInMeta) {
  const std::string head = R"({"topic":"t","partition":3,"offset":42)";
  struct tcase {
    const char* in;
    std::string want;
  };
  const tcase cases[] = {
      {R"({"meta":{"topic":"old","x":1}})", R"({"meta":)" + head + R"(,"x":1}})"},
      {R"({"meta":{"x":1,"partition":9,"y":2}})", R"({"meta":)" + head + R"(,"x":1,"y":2}})"},
      {R"({"meta":{"x":1,"y":2,"offset":7}})", R"({"meta":)" + head + R"(,"x":1,"y":2}})"},
      {R"({"meta":{"offset":7}})", R"({"meta":)" + head + "}}"},
      {R"({"meta":{"offset":7,"topic":"a","partition":1}})", R"({"meta":)" + head + "}}"},
      {R"({"meta":{}})", R"({"meta":)" + head + "}}"},
      {R"({"a":1,"meta":{"id":"u","topic":"x","dt":"2024"},"b":2})",
       R"({"a":1,"meta":)" + head + R"(,"id":"u","dt":"2024"},"b":2})"},
      {R"({"a":1,"meta":{"topic":{"nested":["o","b"]}}})", R"({"a":1,"meta":)" + head + "}}"},
  };
  for (const tcase& c : cases) {
    EXPECT_EQ(splice(c.in), c.want) << c.in;
    expect_round_trip(c.in);
  }
}

TEST(SpliceMeta, ReplacesMetaThatIsNotAnObject) {
  for (const char* value : {"null", "5", "-1.5e3", R"("str")", "[1,{}]", "true", "false"}) {
    const std::string in = std::string(R"({"a":0,"meta":)") + value + R"(,"z":[]})";
    EXPECT_EQ(splice(in), R"({"a":0,"meta":{"topic":"t","partition":3,"offset":42},"z":[]})") << in;
    expect_round_trip(in);
  }
}

TEST(SpliceMeta, LeavesNestedMetaAlone) {
  const std::string in =
      R"({"a":{"meta":{"topic":"x","offset":1}},"b":[{"meta":1}],"meta":{"k":1},"c":{"meta":{}}})";
  EXPECT_EQ(splice(in), R"({"a":{"meta":{"topic":"x","offset":1}},"b":[{"meta":1}],)"
                        R"("meta":{"topic":"t","partition":3,"offset":42,"k":1},"c":{"meta":{}}})");
  expect_round_trip(in);
  // Only nested metas: a top-level one is still added.
  expect_round_trip(R"({"a":{"meta":{"topic":"x"}},"b":[{"meta":{}}]})");
}

TEST(SpliceMeta, StringsThatLookLikeStructure) {
  const char* inputs[] = {
      R"({"s":"}{\"meta\":{","meta":{"k":"\"topic\":1}","topic":"\\"},"z":"meta"})",
      R"({"meta\"":1,"x":"\\","y":"\\\"","z":"]},{"})",
      R"({"s":"\"meta\":{\"topic\":\"x\"}"})",
      R"({"":"","meta":{"":"meta","domain":"}"}})",
  };
  for (const char* in : inputs) {
    expect_round_trip(in);
  }
}

TEST(SpliceMeta, UnicodeEscapesAndRawUtf8) {
  expect_round_trip(R"({"t":"\u00e9\ud83d\ude00\u0000\u001F","meta":{"title":"\u2028"}})");
  expect_round_trip(
      "{\"t\":\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad\",\"meta\":"
      "{\"uri\":\"https://ja.wikipedia.org/wiki/\xe6\x97\xa5\xe6\x9c\xac\"}}");
}

// Keys are read as a JSON parser reads them (docs/api.md, "The SSE stream"): a key spelled with
// escapes is the member it spells. Before, "\u006deta" was not "meta": the splice added a second
// "meta" in front, and parsers (which keep the last) read the record's own instead (the
// fuzz_splice_meta oracle found it with {"\u006deta":"topic"}).
TEST(SpliceMeta, KeysSpelledWithEscapesAreTheMembersTheySpell) {
  EXPECT_EQ(splice(R"({"\u006deta":{"topic":"x"}})"),
            R"({"\u006deta":{"topic":"t","partition":3,"offset":42}})");
  EXPECT_EQ(splice(R"({"\u006deta":"topic"})"),
            R"({"\u006deta":{"topic":"t","partition":3,"offset":42}})");
  EXPECT_EQ(splice(R"({"meta":{"\u0074opic":"x","p\u0061rtition":1,"\u006Fffset":2,"id":7}})"),
            R"({"meta":{"topic":"t","partition":3,"offset":42,"id":7}})");
  // The escapes JSON has, each spelling a letter of the name or not.
  EXPECT_EQ(splice(R"({"m\/eta":1})"),
            R"({"meta":{"topic":"t","partition":3,"offset":42},"m\/eta":1})");
  EXPECT_EQ(splice(R"({"\u006D\u0065\u0074\u0061":1})"),
            R"({"\u006D\u0065\u0074\u0061":{"topic":"t","partition":3,"offset":42}})");
  // Not "meta": one character more, a non-ASCII escape, an escaped quote.
  for (const char* key : {R"("meta\n")", R"("m\u00e9ta")", R"("meta\"")"}) {
    const std::string in = std::string("{") + key + ":1}";
    EXPECT_EQ(splice(in),
              std::string(R"({"meta":{"topic":"t","partition":3,"offset":42},)") + key + ":1}")
        << in;
  }
  // The canary domain, spelled with escapes in its key or its value.
  for (const char* meta : {R"({"d\u006fmain":"canary"})", R"({"domain":"c\u0061nary"})"}) {
    bool is_canary = false;
    std::string out;
    ASSERT_EQ(splice_meta(std::string(R"({"meta":)") + meta + "}", "t", 3, 42, out, &is_canary),
              splice_result::ok)
        << meta;
    EXPECT_TRUE(is_canary) << meta;
  }
}

TEST(SpliceMeta, PrettyPrintedInputBecomesOneLine) {
  const std::string in =
      "{\r\n  \"a\" : 1,\n\t\"meta\" :\n {\n    \"topic\": \"x\",\r\n    \"id\": [\n 1,\n 2\n ]\n"
      "  },\n  \"b\": {\n \"c\": \"d\"\n }\n}\n";
  expect_round_trip(in);
  expect_round_trip("{\n\"a\": {\n\"b\": [\n]\n}\n}");
  expect_round_trip("\n\n{\n}\n\n");
  // The same documents as nlohmann writes them with indentation.
  const ordered_json doc = ordered_json::parse(R"({"x":[1,{"y":"z"}],"meta":{"dt":"now"}})");
  expect_round_trip(doc.dump(4));
  expect_round_trip(doc.dump(1, '\t'));
}

TEST(SpliceMeta, DuplicateMetaSplicesTheLast) {
  bool canary = false;
  EXPECT_EQ(splice(R"({"meta":{"a":1},"x":2,"meta":{"topic":"o","b":2}})", "t", 3, 42, &canary),
            R"({"meta":{"a":1},"x":2,"meta":{"topic":"t","partition":3,"offset":42,"b":2}})");
  EXPECT_FALSE(canary);
  EXPECT_EQ(splice(R"({"meta":{"domain":"canary"},"meta":5})", "t", 3, 42, &canary),
            R"({"meta":{"domain":"canary"},"meta":{"topic":"t","partition":3,"offset":42}})");
  EXPECT_FALSE(canary);
  splice(R"({"meta":{"domain":"x"},"meta":{"domain":"canary"}})", "t", 3, 42, &canary);
  EXPECT_TRUE(canary);
}

TEST(SpliceMeta, TopicIsEscapedAndNumbersAreExact) {
  expect_round_trip(R"({"meta":{}})", "we\"ird\\to\npic\x01", 0, 0);
  constexpr auto i32max = std::numeric_limits<std::int32_t>::max();
  constexpr auto i64max = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(splice("{}", "eqiad.mediawiki.recentchange", i32max, i64max),
            R"({"meta":{"topic":"eqiad.mediawiki.recentchange","partition":2147483647,)"
            R"("offset":9223372036854775807}})");
  EXPECT_EQ(splice("{}", "", 0, -1), R"({"meta":{"topic":"","partition":0,"offset":-1}})");
}

TEST(SpliceMeta, AppendsToExistingOutput) {
  std::string out = "prefix|";
  ASSERT_EQ(splice_meta(R"({"a":1})", "t", 0, 1, out), splice_result::ok);
  EXPECT_EQ(out, R"(prefix|{"meta":{"topic":"t","partition":0,"offset":1},"a":1})");
}

TEST(SpliceMeta, ValidNumbersAndLiterals) {
  expect_round_trip(
      R"({"a":-0.5e+10,"b":0,"c":1E5,"d":-12.34e-2,"e":-0,"f":10,"g":1e0,"h":0.0,"i":[true,false,null]})");
  expect_round_trip(R"({"a":[],"b":{},"c":[[]],"d":[{}],"e":""})");
}

TEST(SpliceMeta, StateDoesNotLeakBetweenCalls) {
  // The scanner's scratch is reused per thread; a big meta must not bleed into the next event.
  bool canary = false;
  splice(R"({"meta":{"domain":"canary","a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8}})", "t", 3,
         42, &canary);
  EXPECT_TRUE(canary);
  EXPECT_EQ(splice(R"({"x":1})", "t", 3, 42, &canary),
            R"({"meta":{"topic":"t","partition":3,"offset":42},"x":1})");
  EXPECT_FALSE(canary);
  EXPECT_EQ(splice(R"({"meta":{"y":1}})"),
            R"({"meta":{"topic":"t","partition":3,"offset":42,"y":1}})");
}

TEST(SpliceMeta, NestingUpToTheDepthLimit) {
  // The object is depth 1, so 255 nested arrays inside it reach the limit of 256.
  auto nested = [](int n) {
    return R"({"a":)" + std::string(static_cast<std::size_t>(n), '[') +
           std::string(static_cast<std::size_t>(n), ']') + "}";
  };
  expect_round_trip(nested(255));
  std::string out = "keep";
  EXPECT_EQ(splice_meta(nested(256), "t", 0, 0, out), splice_result::not_object);
  EXPECT_EQ(splice_meta(nested(10000), "t", 0, 0, out), splice_result::not_object);
  EXPECT_EQ(out, "keep");
}

TEST(SpliceMeta, CanaryDetection) {
  struct tcase {
    const char* in;
    bool canary;
  };
  const tcase cases[] = {
      {R"({"meta":{"domain":"canary"}})", true},
      {R"({"a":[1],"meta":{"uri":"x","domain":"canary","topic":"y"},"b":2})", true},
      {"{\n\"meta\" : {\n\"domain\" :\t\"canary\"\n}\n}", true},
      {R"({"meta":{"domain":"canary2"}})", false},
      {R"({"meta":{"domain":"Canary"}})", false},
      {R"({"meta":{"domain":"en.wikipedia.org"}})", false},
      {R"({"meta":{"domain":["canary"]}})", false},
      {R"({"meta":{"domain":"canary\u0000"}})", false},
      {R"({"meta":{"x":{"domain":"canary"}}})", false},
      {R"({"domain":"canary"})", false},
      {R"({"a":{"meta":{"domain":"canary"}}})", false},
      {R"({"meta":"canary"})", false},
      {R"({"meta":{"dt":"canary"}})", false},
  };
  for (const tcase& c : cases) {
    bool canary = !c.canary;
    splice(c.in, "t", 3, 42, &canary);
    EXPECT_EQ(canary, c.canary) << c.in;
    splice(c.in, "t", 3, 42, nullptr);  // a null flag pointer is allowed
  }
}

class SpliceInvalid : public testing::TestWithParam<std::string> {};

TEST_P(SpliceInvalid, IsNotObjectAndLeavesOutputAlone) {
  std::string out = "already here";
  bool canary = true;
  EXPECT_EQ(splice_meta(GetParam(), "t", 1, 2, out, &canary), splice_result::not_object);
  EXPECT_EQ(out, "already here");
  EXPECT_FALSE(canary);
}

using namespace std::string_literals;
INSTANTIATE_TEST_SUITE_P(
    SpliceInvalid, SpliceInvalid,
    testing::Values(
        // Not objects.
        ""s, "   "s, "[1]"s, "[]"s, "1"s, R"("s")"s, "true"s, "null"s, "{}{}"s, "{} []"s,
        // Truncated or malformed objects.
        "{"s, "}"s, R"({"a")"s, R"({"a":})"s, R"({"a":1,})"s, R"({,"a":1})"s, R"({"a" 1})"s,
        R"({"a":1 "b":2})"s, R"({"a":1}x)"s, R"({"a":1}})"s, R"({'a':1})"s, R"({a:1})"s,
        R"({"a":[1,]})"s, R"({"a":[1 2]})"s, R"({"a":[})"s, R"({"a":{"b":1})"s,
        R"({"meta":{"topic":"x",}})"s, R"({"meta":{)"s,
        // Numbers.
        R"({"a":01})"s, R"({"a":1.})"s, R"({"a":.5})"s, R"({"a":-})"s, R"({"a":+1})"s,
        R"({"a":1e})"s, R"({"a":1e+})"s, R"({"a":0x10})"s, R"({"a":NaN})"s, R"({"a":Infinity})"s,
        R"({"a":--1})"s, R"({"a":1.5.2})"s,
        // Literals.
        R"({"a":tru})"s, R"({"a":True})"s, R"({"a":nul})"s, R"({"a":falsey})"s, R"({"a":t)"s,
        // Strings.
        R"({"a":"unterminated})"s, "{\"a\":\"tab\there\"}"s, "{\"a\":\"nl\nhere\"}"s,
        "{\"a\":\"nul\0here\"}"s, "{\"a\x01\":1}"s, R"({"a":"\x"})"s, R"({"a":"\u12"})"s,
        R"({"a":"\u12g4"})"s, R"({"a":"\)"s, R"({"a":"\'"})"s,
        // Invalid UTF-8: stray continuation, overlong, surrogate, above U+10FFFF, truncated.
        "{\"a\":\"\x80\"}"s, "{\"a\":\"\xc0\xaf\"}"s, "{\"a\":\"\xe0\x80\xaf\"}"s,
        "{\"a\":\"\xed\xa0\x80\"}"s, "{\"a\":\"\xf4\x90\x80\x80\"}"s, "{\"a\":\"\xff\"}"s,
        "{\"a\":\"\xe2\x82\"}"s, "{\"a\":\"\xe2\x82"s,
        // Bytes outside strings.
        "{\"a\":1}\0"s, "{\"a\":1,\f\"b\":2}"s, "\xef\xbb\xbf{}"s,
        // Deep nesting without an object around it.
        std::string(10000, '[')));

TEST(SpliceMeta, LoneSurrogateEscapeIsAccepted) {
  // The grammar allows it (RFC 8259 §8.2 leaves the meaning open); the text is copied as is.
  EXPECT_EQ(splice(R"({"a":"\ud800"})"),
            R"({"meta":{"topic":"t","partition":3,"offset":42},"a":"\ud800"})");
}

TEST(SpliceMeta, StringLengthsAroundWordBoundaries) {
  // The scanner skips string content 8 bytes at a time: put each kind of special byte at every
  // position of strings around that size.
  const std::string specials[] = {R"(\")", R"(\\)", R"(\u00e9)", "\xc3\xa9", "\xf0\x9f\x98\x80"};
  for (const std::string& special : specials) {
    for (std::size_t len = 0; len < 20; ++len) {
      for (std::size_t at = 0; at <= len; ++at) {
        std::string s(len, 'x');
        s.insert(at, special);
        expect_round_trip(R"({"k":")" + s + R"(","meta":{"v":")" + s + R"("}})");
      }
    }
  }
}

// Differential check against nlohmann's parser: random documents, dumped compact and pretty,
// must round-trip; random mutations of them must be accepted exactly when nlohmann accepts an
// object.
TEST(SpliceMeta, AgreesWithNlohmannOnRandomDocuments) {
  std::mt19937 rng(20240601);
  auto pick = [&rng](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const std::string words[] = {"meta",   "topic",      "offset", "partition",         "domain",
                               "canary", "a\"b",       "x\\y",   "\xc3\xa9t\xc3\xa9", "{[]}",
                               "",       "line\nbreak"};
  std::function<ordered_json(int)> gen = [&](int depth) -> ordered_json {
    switch (depth > 3 ? pick(4) : pick(7)) {
      case 0:
        return words[pick(12)];
      case 1:
        return pick(2000) - 1000;
      case 2:
        return pick(1000) / 7.0;
      case 3:
        return pick(3) == 0 ? ordered_json(nullptr) : ordered_json(pick(2) == 0);
      case 4: {
        ordered_json a = ordered_json::array();
        for (int i = pick(4); i > 0; --i) {
          a.push_back(gen(depth + 1));
        }
        return a;
      }
      default: {
        ordered_json o = ordered_json::object();
        for (int i = pick(5); i > 0; --i) {
          o[words[pick(12)]] = gen(depth + 1);
        }
        return o;
      }
    }
  };
  const std::string mutations = "{}[]\",:\\0123456789.eE+-tfnul \n\x01\x80\xff a";
  for (int iter = 0; iter < 2000; ++iter) {
    ordered_json doc = ordered_json::object();
    for (int i = pick(6); i > 0; --i) {
      doc[words[pick(12)]] = gen(1);
    }
    const std::string text = pick(2) == 0 ? doc.dump() : doc.dump(pick(4));
    expect_round_trip(text, "topic", pick(10), pick(100000));

    std::string bad = text;
    const auto at = static_cast<std::size_t>(pick(static_cast<int>(bad.size())));
    const char m = mutations[static_cast<std::size_t>(pick(static_cast<int>(mutations.size())))];
    switch (pick(3)) {
      case 0:
        bad[at] = m;
        break;
      case 1:
        bad.insert(at, 1, m);
        break;
      default:
        bad.erase(at, 1);
        break;
    }
    bool want_ok = false;
    try {
      want_ok = ordered_json::parse(bad).is_object();
    } catch (const ordered_json::out_of_range&) {
      continue;  // grammatical but beyond a double (1e99999): a limit of nlohmann, not of JSON
    } catch (const ordered_json::parse_error&) {
      want_ok = false;
    }
    std::string out;
    const bool ok = splice_meta(bad, "t", 0, 0, out) == splice_result::ok;
    EXPECT_EQ(ok, want_ok) << bad;
    if (ok && want_ok && bad.find("\"meta\"") == std::string::npos) {
      EXPECT_EQ(ordered_json::parse(out), reference(bad, "t", 0, 0)) << bad;
    }
  }
}

TEST(SseEvent, ExactBytes) {
  std::string out = ":ok\n\n";
  eventstreams::append_sse_event(out, R"([{"topic":"a","partition":0,"offset":1}])",
                                 R"({"meta":{}})");
  EXPECT_EQ(out,
            ":ok\n\nevent: message\nid: [{\"topic\":\"a\",\"partition\":0,\"offset\":1}]\n"
            "data: {\"meta\":{}}\n\n");
  std::string empty;
  eventstreams::append_sse_event(empty, "", "");
  EXPECT_EQ(empty, "event: message\nid: \ndata: \n\n");
}

TEST(SseEvent, SpliceThenFrame) {
  std::string data;
  ASSERT_EQ(splice_meta("{\n\"a\": 1\n}", "t", 0, 5, data), splice_result::ok);
  std::string out;
  eventstreams::append_sse_event(out, "[]", data);
  EXPECT_EQ(out,
            "event: message\nid: []\n"
            "data: {\"meta\":{\"topic\":\"t\",\"partition\":0,\"offset\":5}, \"a\": 1 }\n\n");
}

TEST(SseGapEvent, ExactBytesAndValidJsonData) {
  const eventstreams::gap_partition parts[] = {
      {"eqiad.mediawiki.recentchange", 0, 1200, 3500, 2300, "retention"},
      {"t\"x", 3, 90, 4, 4, "reset"}};
  std::string out = ":ok\n\n";
  eventstreams::append_sse_gap_event(out, R"([{"topic":"a","partition":0,"offset":3500}])", parts);
  EXPECT_EQ(out,
            ":ok\n\nevent: gap\nid: [{\"topic\":\"a\",\"partition\":0,\"offset\":3500}]\n"
            R"(data: {"partitions":[{"topic":"eqiad.mediawiki.recentchange","partition":0,)"
            R"("requested":1200,"resumed":3500,"missing":2300,"reason":"retention"},)"
            R"({"topic":"t\"x","partition":3,"requested":90,"resumed":4,"missing":4,)"
            R"("reason":"reset"}]})"
            "\n\n");
  // The data line is one JSON object (the topic escaped), as clients parse it.
  const auto data = out.substr(out.find("data: ") + 6);
  const auto j = ordered_json::parse(data.substr(0, data.find('\n')));
  EXPECT_EQ(j["partitions"][1]["topic"], "t\"x");
  EXPECT_EQ(j["partitions"][0]["missing"], 2300);
}

TEST(SseGapEvent, OnePartition) {
  const eventstreams::gap_partition part{"p", 1, 0, 7, 7, "unknown"};
  std::string out;
  eventstreams::append_sse_gap_event(out, "[]", std::span(&part, 1));
  EXPECT_EQ(out,
            "event: gap\nid: []\n"
            R"(data: {"partitions":[{"topic":"p","partition":1,"requested":0,"resumed":7,)"
            R"("missing":7,"reason":"unknown"}]})"
            "\n\n");
}

TEST(EncoderNdjson, AppendsLine) {
  std::string out = "{\"a\":1}\n";
  eventstreams::append_ndjson_line(out, R"({"b":2})");
  EXPECT_EQ(out, "{\"a\":1}\n{\"b\":2}\n");
}

TEST(EncoderJsonString, Escapes) {
  struct tcase {
    std::string in;
    std::string want;
  };
  const tcase cases[] = {
      {"", R"("")"},
      {"plain.topic-name_1", R"("plain.topic-name_1")"},
      {"q\"b\\s/", R"("q\"b\\s/")"},
      {"\b\f\n\r\t", R"("\b\f\n\r\t")"},
      {std::string("\0\x01\x1f\x7f", 4), R"("\u0000\u0001\u001f)"
                                         "\x7f\""},
      {"\xc3\xa9\xe2\x82\xac", "\"\xc3\xa9\xe2\x82\xac\""},
      {"\"", R"("\"")"},
      {"ab\ncd\"", R"("ab\ncd\"")"},
  };
  for (const tcase& c : cases) {
    std::string out = "x";
    eventstreams::append_json_string(out, c.in);
    EXPECT_EQ(out, "x" + c.want) << c.in;
    EXPECT_EQ(nlohmann::json::parse(out.substr(1)).get<std::string>(), c.in);
  }
}

}  // namespace
