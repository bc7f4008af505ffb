// The filter's field reader, filter::extract() (simdjson On-Demand), against the project's own
// scanner that it replaced (tests/support/filter_reference_scanner.cpp): for every payload,
// valid JSON or not, both must fill every slot the same (type, boolean, number as int64 or
// double, string after unescaping, array elements and size, object member count), including
// duplicate members, array index segments and "a payload that is not JSON has no fields".
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "eventstreams/filter.hpp"
#include "filter/program.hpp"
#include "filter_reference_scanner.hpp"
#include "random_picks.hpp"

namespace ef = eventstreams::filter;

namespace {

ef::path_segment member_segment(std::string name) {
  return {std::move(name), false, 0};
}
ef::path_segment index_segment(std::size_t index) {
  return {std::to_string(index), true, index};
}

// A program that reads `paths` (duplicates dropped), built as compile() builds one.
ef::program program_of(std::vector<ef::path> paths) {
  ef::program prog;
  for (auto& p : paths) {
    if (std::find(prog.paths.begin(), prog.paths.end(), p) == prog.paths.end())
      prog.paths.push_back(std::move(p));
  }
  ef::lower(prog);
  return prog;
}

ef::path dotted(std::initializer_list<std::string> segments) {
  ef::path p;
  for (const auto& s : segments) {
    if (!s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
      p.segments.push_back(index_segment(std::stoul(s)));
    else
      p.segments.push_back(member_segment(s));
  }
  return p;
}

ef::path pseudo_path(ef::pseudo which, const char* name) {
  ef::path p;
  p.segments.push_back(member_segment(name));
  p.meta = which;
  return p;
}

// Both readers on one payload; the first difference, if any.
struct comparison {
  ef::scratch mine;
  ef::scratch theirs;

  std::string differences(const ef::program& prog, std::string_view payload) {
    ef::record_view record;
    record.value = payload;
    record.topic = "eqiad.mediawiki.recentchange";
    record.partition = 3;
    record.offset = 1234;
    record.timestamp = 1700000000000;
    const std::string key = "Q42";
    record.key = key;
    ef::extract(prog, record, mine.get());
    ef::reference::extract(prog, record, theirs.get());
    return ef::reference::slot_difference(prog, mine.get(), theirs.get());
  }
};

// ---- payloads: random JSON-ish text, mostly valid, and mutations of it ----

// Keys as written (between the quotes) and what they read as: escapes, non-ASCII, duplicates
// of each other once unescaped.
const std::vector<std::string> key_texts = {"a",
                                            "b",
                                            "c",
                                            "wiki",
                                            "meta",
                                            "length",
                                            "new",
                                            "tags",
                                            "",
                                            "\xc3\xa9",
                                            R"(\u0061)",
                                            R"(w\u0069ki)",
                                            R"(\u00e9)",
                                            R"(a\"b)",
                                            R"(\ud83d\ude00)",
                                            "\xf0\x9f\x98\x80",
                                            R"(\ud800)",
                                            "x y",
                                            R"(\\)",
                                            R"(\/)"};
// The names paths use (the keys above, read).
const std::vector<std::string> path_names = {"a",
                                             "b",
                                             "c",
                                             "wiki",
                                             "meta",
                                             "length",
                                             "new",
                                             "tags",
                                             "",
                                             "\xc3\xa9",
                                             "a\"b",
                                             "\xf0\x9f\x98\x80",
                                             "\xef\xbf\xbd",
                                             "x y",
                                             "\\",
                                             "/"};

const std::vector<std::string> string_texts = {
    "",
    "enwiki",
    "\xc3\xa9t\xc3\xa9",
    R"(line\nbreak)",
    R"(\u00e9)",
    R"(\ud83d\ude00)",
    R"(\ud800x)",
    R"(\udc00)",
    R"(\\)",
    R"(\")",
    R"(\/)",
    R"(\b\f\r\t)",
    R"(\x)",      // not an escape: the scanner kept it as 'x'
    R"(\u12)",    // short \u
    R"(\u12G4)",  // not hex
    R"(\u0000)",
    "tab\there",      // a raw control character: not JSON, read all the same
    "bad \xff utf8",  // not UTF-8
    "\xe2\x82",       // a truncated sequence
    "10.1.2.3",
    "2620:0:e00::1",
    "a,b}]:{[",
    "\\\\\\\"",
};

const std::vector<std::string> number_texts = {
    "0",
    "-0",
    "1",
    "-1",
    "42",
    "9007199254740993",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "123456789012345678901234567890",
    "1.5",
    "-0.0",
    "1e2",
    "1E+2",
    "1e-2",
    "1e400",
    "-1e400",
    "1e-400",
    "0.1",
    "2.5e-3",
    "100.000",
    "1.7976931348623157e308",
    "4.9e-324",
};
const std::vector<std::string> bad_scalars = {
    "01",  "1.",  ".5",   "+1",    "-",     "1e",    "1e+", "0x10", "NaN",  "Infinity", "-Infinity",
    "tru", "nul", "TRUE", "truex", "nulll", "falsy", "1-2", "--1",  "1..2", "'a'",      "x",
};

class generator : public eventstreams::test::random_picks {
 public:
  using random_picks::random_picks;

  std::string space() {
    static const std::vector<std::string> spaces = {"", "", "", " ", "\n", "\t", "\r\n  "};
    return one_of(spaces);
  }

  // A value, nested at most `depth` more levels; `bad` percent of scalars are not JSON.
  std::string value(int depth, int bad = 0) {
    const auto kind = pick(10);
    if (depth > 0 && kind < 3)
      return object(depth - 1, bad);
    if (depth > 0 && kind < 5)
      return array(depth - 1, bad);
    if (coin(bad))
      return one_of(bad_scalars);
    switch (pick(6)) {
      case 0:
      case 1:
        return "\"" + one_of(string_texts) + "\"";
      case 2:
      case 3:
        return one_of(number_texts);
      case 4:
        return coin(50) ? "true" : "false";
      default:
        return "null";
    }
  }

  std::string object(int depth, int bad = 0) {
    std::string out = "{" + space();
    const auto n = pick(7);
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0)
        out += space() + "," + space();
      out += "\"" + one_of(key_texts) + "\"" + space() + ":" + space() + value(depth, bad);
    }
    return out + space() + "}";
  }

  std::string array(int depth, int bad = 0) {
    std::string out = "[" + space();
    const auto n = pick(5);
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0)
        out += space() + "," + space();
      out += value(depth, bad);
    }
    return out + space() + "]";
  }

  // A document: mostly an object (what the daemon reads), sometimes any value.
  std::string document(int bad = 0) {
    const auto root = coin(85) ? object(3, bad) : value(3, bad);
    return space() + root + space();
  }

  // Nested `levels` deep around a member "a" (or element 0) holding `inner`.
  std::string nested(std::size_t levels, const std::string& inner) {
    std::string open, close;
    for (std::size_t i = 0; i < levels; ++i) {
      if (coin(50)) {
        open += R"({"a":)";
        close += "}";
      } else {
        open += "[";
        close += "]";
      }
    }
    std::reverse(close.begin(), close.end());
    return open + inner + close;
  }

  // `text` with one to three random edits: bytes replaced, inserted or deleted, a cut, a
  // repeated slice, junk before or after.
  std::string mutate(std::string text) {
    static const std::string bytes = std::string("{}[],:\"\\ \t\n\r0-.eE+tfnulx1") +
                                     std::string("\x00\x01\x1f\x7f\x80\xbf\xc3\xff", 8);
    for (auto edits = 1 + pick(3); edits > 0; --edits) {
      const auto at = text.empty() ? 0 : pick(text.size() + 1);
      switch (pick(7)) {
        case 0:
          if (at < text.size())
            text[at] = bytes[pick(bytes.size())];
          break;
        case 1:
          text.insert(at, 1, bytes[pick(bytes.size())]);
          break;
        case 2:
          if (at < text.size())
            text.erase(at, 1);
          break;
        case 3:
          text.resize(at);
          break;
        case 4: {
          const auto len = pick(8);
          text.insert(at, text.substr(std::min(at, text.size()), len));
          break;
        }
        case 5: {
          static const std::vector<std::string> junk = {
              " x", "}", "]", ",", " 1", std::string(1, '\0'), "{}", "\"", " \"a\""};
          text += one_of(junk);
          break;
        }
        default: {
          static const std::vector<std::string> junk = {"x",  "}",  "]",           ",",
                                                        "1 ", "\"", "\xef\xbb\xbf"};
          text.insert(0, one_of(junk));
          break;
        }
      }
    }
    return text;
  }

  // A path over the names documents use: 1 to 3 segments, some of them indices.
  ef::path path() {
    ef::path p;
    for (auto n = 1 + pick(3); n > 0; --n) {
      if (coin(20))
        p.segments.push_back(index_segment(pick(4)));
      else
        p.segments.push_back(member_segment(one_of(path_names)));
    }
    return p;
  }

  ef::program program() {
    std::vector<ef::path> paths;
    for (auto n = 1 + pick(6); n > 0; --n)
      paths.push_back(path());
    if (coin(20))
      paths.push_back(pseudo_path(ef::pseudo::topic, "$topic"));
    if (coin(20))
      paths.push_back(pseudo_path(ef::pseudo::key, "$key"));
    return program_of(std::move(paths));
  }
};

// Every path of up to two segments over the names, and a few deeper ones: reads most of what a
// generated document holds.
ef::program wide_program() {
  std::vector<ef::path> paths;
  for (const auto& a : path_names) {
    paths.push_back(dotted({a}));
    for (const auto& b : {"a", "b", "new", "0", "1"})
      paths.push_back(dotted({a, b}));
    paths.push_back(dotted({a, "0", "a"}));
    paths.push_back(dotted({a, "a", "0"}));
  }
  for (const auto& i : {"0", "1", "2"}) {
    paths.push_back(dotted({i}));
    paths.push_back(dotted({i, "a"}));
    paths.push_back(dotted({i, "0"}));
  }
  paths.push_back(pseudo_path(ef::pseudo::offset, "$offset"));
  return program_of(std::move(paths));
}

// What the comparisons covered, from the reference's slots: the test proves little unless the
// payloads reach every kind of value and both outcomes.
struct coverage {
  std::size_t payloads = 0, valid = 0, invalid = 0, with_fields = 0;
  std::size_t strings = 0, decoded = 0, ints = 0, doubles = 0, booleans = 0, nulls = 0;
  std::size_t arrays = 0, elements = 0, objects = 0;

  void count(const ef::program& prog, ef::scratch& work, std::string_view payload) {
    ++payloads;
    (nlohmann::json::accept(payload) ? valid : invalid) += 1;
    bool any = false;
    for (std::size_t s = 0; s < prog.paths.size(); ++s) {
      if (prog.paths[s].meta != ef::pseudo::none)
        continue;
      const auto& v = work.get().slots[s];
      using t = ef::value::type;
      any = any || v.t != t::missing;
      strings += v.t == t::string;
      decoded += v.t == t::string &&
                 (v.str.data() < payload.data() || v.str.data() > payload.data() + payload.size());
      ints += v.t == t::number && v.num.is_int;
      doubles += v.t == t::number && !v.num.is_int;
      booleans += v.t == t::boolean;
      nulls += v.t == t::null;
      arrays += v.t == t::array;
      objects += v.t == t::object;
      elements += work.get().elements[s].size();
    }
    with_fields += any;
  }
};

void compare(comparison& c, const ef::program& prog, const std::string& payload, coverage& seen) {
  const auto diff = c.differences(prog, payload);
  ASSERT_TRUE(diff.empty()) << diff << "\npayload (" << payload.size()
                            << " bytes): " << ::testing::PrintToString(payload);
  seen.count(prog, c.theirs, payload);
}

TEST(FilterExtract, AgreesWithTheReferenceScannerOnRandomAndMutatedPayloads) {
  generator gen(20261201);
  std::vector<ef::program> programs;
  for (int i = 0; i < 300; ++i)
    programs.push_back(gen.program());
  const auto wide = wide_program();
  comparison c;
  coverage seen;
  for (int i = 0; i < 6000; ++i) {
    const auto valid = gen.document();
    const auto dubious = gen.document(1);  // now and then a scalar that is not JSON
    const auto mutated = gen.mutate(gen.coin(50) ? valid : dubious);
    for (const auto* payload : {&valid, &dubious, &mutated}) {
      compare(c, wide, *payload, seen);
      compare(c, gen.one_of(programs), *payload, seen);
      if (HasFatalFailure())
        return;
    }
  }
  std::printf(
      "%zu comparisons: %zu valid JSON, %zu not; %zu with payload fields; strings %zu "
      "(decoded %zu), ints %zu, doubles %zu, booleans %zu, nulls %zu, arrays %zu (elements %zu), "
      "objects %zu\n",
      seen.payloads, seen.valid, seen.invalid, seen.with_fields, seen.strings, seen.decoded,
      seen.ints, seen.doubles, seen.booleans, seen.nulls, seen.arrays, seen.elements, seen.objects);
  // Both outcomes and every kind of value, many times over.
  EXPECT_GT(seen.valid, 5000u);
  EXPECT_GT(seen.invalid, 5000u);
  EXPECT_GT(seen.with_fields, 8000u);
  EXPECT_GT(seen.payloads - seen.with_fields, 8000u);
  for (const auto n : {seen.strings, seen.decoded, seen.ints, seen.doubles, seen.booleans,
                       seen.nulls, seen.arrays, seen.elements, seen.objects})
    EXPECT_GT(n, 1000u);
}

TEST(FilterExtract, AgreesOnDeepNesting) {
  // The scanner refused values nested deeper than 256 levels below the root.
  generator gen(7);
  const auto prog = program_of(
      {dotted({"a"}), dotted({"0"}), dotted({"a", "a"}), dotted({"0", "a"}), dotted({"b"})});
  comparison c;
  coverage seen;
  for (std::size_t levels = 1; levels < 300; levels += levels < 240 ? 17 : 1) {
    for (const std::string inner : {"1", "[]", "{}", "[1]", R"({"b":2})", R"("s")", "tru"}) {
      const auto doc = gen.nested(levels, inner);
      compare(c, prog, doc, seen);
      compare(c, prog, R"({"b":1,"c":)" + doc + "}", seen);
      compare(c, prog, gen.mutate(doc), seen);
      if (HasFatalFailure())
        return;
    }
  }
  EXPECT_GT(seen.with_fields, 100u);
  EXPECT_GT(seen.payloads - seen.with_fields, 100u);
}

TEST(FilterExtract, AgreesOnHandPickedPayloads) {
  const auto prog = program_of({dotted({"a"}), dotted({"a", "b"}), dotted({"wiki"}),
                                dotted({"tags"}), dotted({"tags", "1"}), dotted({"0"}),
                                dotted({"1", "a"}), pseudo_path(ef::pseudo::topic, "$topic")});
  const std::vector<std::string> payloads = {
      R"({"a":1})",
      R"({"a":1}})",
      R"({"a":2} {}})",
      R"({"a":1} x)",
      R"({"a":1}x)",
      "{\"a\":1}\n",
      " \t{\"a\":1}\r\n ",
      R"({"a":1,})",
      R"({"a":1 "b":2})",
      R"({"a" 1})",
      R"({"a":})",
      R"({"a")",
      R"({"a":1)",
      R"({"a":{"b":[1,2,]}})",
      R"({"a":{"b":[1 2]}})",
      R"({"a":{"b":tru}})",
      R"({"x":tru,"a":1})",
      R"({"x":[1,{"y":nul}],"a":1})",
      R"({"x":01,"a":1})",
      R"({"x":["s":[1]],"a":1})",  // a string and ':' where an element belongs
      R"({"x":[["s":{"b":1}]],"a":1})",
      R"([["a":[[1]]]])",
      R"({"a":1,"a":{"b":2}})",
      R"({"a":{"b":2},"a":3})",
      R"({"\u0061":{"b":"\u00e9"},"wiki":"en\"wiki"})",
      R"({"wiki":"\ud83d\ude00 \ud800 \u12 \x"})",
      R"({"tags":["a",1,true,null,{"b":1},[1,2],"\u0041"]})",
      R"({"tags":[]})",
      R"({"tags":[[],{}]})",
      R"({"tags":"not an array"})",
      R"([{"a":1},{"a":2}])",
      R"([1,{"a":[3]}])",
      "[]",
      "[1]]",
      "[[1]",
      "{}",
      "{}}",
      "\"a string\"",
      "\"a\" \"b\"",
      "123",
      "123 ",
      "1 2",
      "-",
      "true",
      "null",
      "nul",
      "",
      " ",
      "x",
      "{\"a\":\"\x01\"}",
      "{\"a\":\"\xff\"}",
      "{\"a\":1}\xff",
      "\xef\xbb\xbf{\"a\":1}",
      std::string("{\"a\":\"nul\0byte\"}", 16),
      std::string("{\"a\":1}\0", 8),
      R"({"a":18446744073709551616,"wiki":-1e400,"tags":[1e-400,-0.0,9223372036854775808]})",
      R"({"a":1.0,"wiki":1E2,"tags":[0,-0,1e0]})",
  };
  comparison c;
  coverage seen;
  for (const auto& p : payloads) {
    compare(c, prog, p, seen);
    if (HasFatalFailure())
      return;
  }
}

TEST(FilterExtract, PayloadsOfGrowingAndShrinkingSizeReuseThePaddedCopy) {
  // The reader keeps one padded copy per thread: a short record after a long one must not see
  // the long one's bytes.
  const auto prog = program_of({dotted({"a"}), dotted({"b"})});
  comparison c;
  coverage seen;
  std::string big = R"({"b":")" + std::string(5000, 'y') + R"(","a":[)";
  for (int i = 0; i < 2000; ++i)
    big += std::to_string(i) + ",";
  big += "0]}";
  for (const std::string& p :
       {big, std::string(R"({"a":1)"), std::string(R"({"a":)"), big, std::string(R"({"a":1} )"),
        std::string("[1]"), big.substr(0, big.size() - 1), std::string(R"({"a":1})")}) {
    compare(c, prog, p, seen);
    if (HasFatalFailure())
      return;
  }
  // Past the size the reader keeps between records.
  const std::string huge = R"({"a":")" + std::string(3 << 20, 'z') + R"("})";
  compare(c, prog, huge, seen);
  compare(c, prog, R"({"a":2})", seen);
}

TEST(FilterExtract, TheComparisonCatchesADifferentSlot) {
  // The check the tests above rely on: one slot changed in one way is reported.
  const auto prog = program_of({dotted({"a"}), dotted({"tags"})});
  const std::string payload = R"({"a":"x\ny","tags":[1,2.5,"s"]})";
  comparison c;
  ASSERT_EQ(c.differences(prog, payload), "");
  const auto tampered = [&](auto change) {
    ef::scratch copy;
    copy.get().slots = c.mine.get().slots;
    copy.get().elements = c.mine.get().elements;
    change(copy.get());
    return ef::reference::slot_difference(prog, copy.get(), c.theirs.get());
  };
  EXPECT_NE(tampered([](auto& w) { w.slots[0].str = "x\\ny"; }), "");
  EXPECT_NE(tampered([](auto& w) { w.slots[0].t = ef::value::type::null; }), "");
  EXPECT_NE(tampered([](auto& w) { w.slots[1].size = 2; }), "");
  EXPECT_NE(tampered([](auto& w) { w.elements[1].pop_back(); }), "");
  EXPECT_NE(tampered([](auto& w) { w.elements[1][1].num = {true, 2, 0}; }), "");
  EXPECT_NE(tampered([](auto& w) { w.elements[1][0].num.d = -0.0; }), "");
}

}  // namespace
