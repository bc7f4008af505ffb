// Micro-benchmark of reading a filter's fields from ~1 KB recentchange events (issue 14 point
// 2): filter::extract() (src/filter/extract.cpp, simdjson On-Demand since 2026-12-01) against
// the project's own one-pass scanner that it replaced (tests/support/filter_reference_scanner.cpp,
// kept as the reference), and against bare simdjson On-Demand reading the same fields into a
// struct (the floor), for the fields of
//   wiki=enwiki;type=edit;length.new>1000;meta.domain=en.wikipedia.org
// and for that predicate evaluated. Records arrive from Kafka unpadded, so the bare simdjson rows
// are given with and without the copy into a padded buffer (extract() always copies).
// Usage: json_fields_bench [iterations]   (default 1000000). Prints ns/record.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "eventstreams/filter.hpp"
#include "filter/program.hpp"  // the extractor alone (src/filter, not the public API)
#include "filter_reference_scanner.hpp"
#include "micro_timing.hpp"
#include "recentchange_event.hpp"

namespace ef = eventstreams::filter;
namespace od = simdjson::ondemand;
namespace mb = eventstreams::bench;

namespace {

constexpr const char* filter_text =
    "wiki=enwiki;type=edit;length.new>1000;meta.domain=en.wikipedia.org";
constexpr std::size_t event_count = 1024;  // distinct events, cycled (about 1 MB in all)

// The fields as simdjson reads them; a field absent or of another type stays unset.
struct fields {
  std::string_view wiki, type, domain;
  bool has_length_new = false;
  double length_new = 0;
};

// A string field: unset (empty) when absent or not a string.
void read_string(simdjson::simdjson_result<std::string_view> r, std::string_view& out) {
  if (std::move(r).get(out))
    out = {};
}

bool read_number(od::value v, fields& out) {
  od::number n;
  if (v.get_number().get(n))
    return true;  // not a number: left unset, not an error of the document
  out.has_length_new = true;
  out.length_new = n.is_double()  ? n.get_double()
                   : n.is_int64() ? static_cast<double>(n.get_int64())
                                  : static_cast<double>(n.get_uint64());
  return true;
}

// One pass over the top-level members (like the project's trie walk): descends into "meta"
// and "length", skips the rest. Strings are unescaped into the parser's buffer. False when
// the document is not JSON as far as it was read.
bool read_one_pass(od::object& root, fields& out) {
  for (auto member : root) {
    std::string_view key;
    if (member.unescaped_key().get(key))
      return false;
    od::value v;
    if (member.value().get(v))
      return false;
    if (key == "wiki") {
      read_string(v.get_string(), out.wiki);
    } else if (key == "type") {
      read_string(v.get_string(), out.type);
    } else if (key == "meta" || key == "length") {
      od::object inner;
      if (v.get_object().get(inner))
        continue;
      const bool meta = key == "meta";
      for (auto m : inner) {
        std::string_view k;
        if (m.unescaped_key().get(k))
          return false;
        od::value iv;
        if (m.value().get(iv))
          return false;
        if (meta && k == "domain")
          read_string(iv.get_string(), out.domain);
        else if (!meta && k == "new")
          read_number(iv, out);
      }
    }
  }
  return true;  // simdjson 3.0.1's document has no at_end(): content after the object is unchecked
}

// The same fields by key lookups (find_field_unordered: one scan per field, wrapping around).
bool read_by_key(od::object& root, fields& out) {
  read_string(root.find_field_unordered("wiki").get_string(), out.wiki);
  read_string(root.find_field_unordered("type").get_string(), out.type);
  od::value v;
  if (!root.find_field_unordered("length").find_field_unordered("new").get(v))
    read_number(v, out);
  read_string(root.find_field_unordered("meta").find_field_unordered("domain").get_string(),
              out.domain);
  return true;
}

// Reads `data` (one JSON object, `capacity` bytes readable from it: simdjson's padding) with
// `how`; false when it is not one object.
using member_reader = bool (*)(od::object&, fields&);
bool read_fields(member_reader how, od::parser& parser, const char* data, std::size_t size,
                 std::size_t capacity, fields& out) {
  out = fields{};
  od::document doc;
  od::object root;
  if (parser.iterate(data, size, capacity).get(doc) || doc.get_object().get(root))
    return false;
  return how(root, out);
}

bool predicate(const fields& f) {
  return f.wiki == "enwiki" && f.type == "edit" && f.has_length_new && f.length_new > 1000 &&
         f.domain == "en.wikipedia.org";
}

// A buffer of `capacity` bytes whose first bytes are copied from each record: what the daemon
// would do with an unpadded Kafka payload.
struct padded_copy {
  std::vector<char> buf;
  explicit padded_copy(std::size_t max_size) : buf(max_size + simdjson::SIMDJSON_PADDING) {}
  const char* load(std::string_view s) {
    std::memcpy(buf.data(), s.data(), s.size());
    return buf.data();
  }
};

// `hits` is printed for the rows that evaluate the predicate.
void report(const char* name, double ns, std::optional<std::size_t> hits = std::nullopt) {
  std::printf("%-58s %8.1f ns/record", name, ns);
  if (hits)
    std::printf("  (%zu matched)", *hits);
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  const long iterations = mb::iterations_arg(argc, argv, 1000000, "json_fields_bench");
  if (iterations == 0)
    return 2;
  std::vector<std::string> events(event_count);
  std::vector<simdjson::padded_string> padded;
  std::size_t total = 0, largest = 0;
  for (std::size_t i = 0; i < event_count; ++i) {
    bench::make_event(i, 1717245296000000000LL + static_cast<std::int64_t>(i) * 1000000, events[i]);
    padded.emplace_back(events[i]);
    total += events[i].size();
    largest = std::max(largest, events[i].size());
  }
  const auto at = [](long i) { return static_cast<std::size_t>(i) % event_count; };
  std::printf("%zu distinct events, mean %zu bytes; %ld iterations per row\n", event_count,
              total / event_count, iterations);
  std::printf("simdjson %d.%d.%d, active implementation %s (stage 1), builtin %s (On-Demand)\n",
              simdjson::SIMDJSON_VERSION_MAJOR, simdjson::SIMDJSON_VERSION_MINOR,
              simdjson::SIMDJSON_VERSION_REVISION,
              simdjson::get_active_implementation()->name().c_str(),
              simdjson::builtin_implementation()->name().c_str());
  std::printf("filter: %s\n", filter_text);

  // (a) The project's evaluator, through the public API.
  const std::vector<std::string> clauses{filter_text};
  auto made = ef::compile(clauses, ef::limits{});
  if (made.error) {
    std::fprintf(stderr, "%s\n", made.error->detail.c_str());
    return 1;
  }
  ef::scratch work;
  ef::record_view record;
  record.topic = "eqiad.mediawiki.recentchange";
  std::size_t project_hits = 0;
  double ns = mb::ns_per_iteration(iterations, [&](long i) {
    record.value = events[at(i)];
    project_hits += made.filter->matches(record, work);
  });
  report("project: matches() (extract + evaluate)", ns, project_hits);

  // (a') The extractor alone, on a program built as compile() builds it.
  ef::program prog;
  {
    ef::parse_counts counts;
    if (ef::parse_clause(filter_text, 1, ef::limits{}, counts, prog.paths, prog.root)) {
      std::fprintf(stderr, "parse_clause failed\n");
      return 1;
    }
    prog.canonical = ef::normalise(prog.root, prog.paths, ef::limits{});
    ef::lower(prog);
  }
  // Both readers give the same slots on every event (tests/unit/filter_extract_test.cpp checks
  // it on much more).
  ef::scratch reference_work;
  for (const auto& e : events) {
    record.value = e;
    ef::extract(prog, record, work.get());
    ef::reference::extract(prog, record, reference_work.get());
    const auto difference = ef::reference::slot_difference(prog, work.get(), reference_work.get());
    if (!difference.empty()) {
      std::fprintf(stderr, "extract() and the reference scanner differ: %s\n", difference.c_str());
      return 1;
    }
  }
  std::size_t read = 0;
  ns = mb::ns_per_iteration(iterations, [&](long i) {
    record.value = events[at(i)];
    ef::extract(prog, record, work.get());
    read += work.get().slots[0].size + work.get().slots.size();
  });
  mb::sink = mb::sink + read;
  report("project: extract() only (4 fields)", ns);

  // (r) The scanner extract() replaced: alone, and with the same evaluator after it.
  std::size_t reference_hits = 0;
  ns = mb::ns_per_iteration(iterations, [&](long i) {
    record.value = events[at(i)];
    ef::reference::extract(prog, record, reference_work.get());
    reference_hits += ef::evaluate(prog, prog.root, reference_work.get());
  });
  report("reference scanner: extract + evaluate", ns, reference_hits);
  if (reference_hits != project_hits) {
    std::fprintf(stderr, "the reference scanner matched %zu, extract() %zu\n", reference_hits,
                 project_hits);
    return 1;
  }
  ns = mb::ns_per_iteration(iterations, [&](long i) {
    record.value = events[at(i)];
    ef::reference::extract(prog, record, reference_work.get());
    read += reference_work.get().slots[0].size + reference_work.get().slots.size();
  });
  mb::sink = mb::sink + read;
  report("reference scanner: extract only (4 fields)", ns);

  // (b) simdjson On-Demand, the same four fields.
  od::parser parser;
  padded_copy copy(largest);
  fields f;
  std::size_t ok = 0, hits = 0;
  // Times `reader` over the records: from the padded copies made beforehand, or each copied into
  // a padded buffer first (Kafka's payloads come unpadded); `then` uses the fields read.
  auto time_padded = [&](member_reader reader, auto then) {
    return mb::ns_per_iteration(iterations, [&](long i) {
      const auto& p = padded[at(i)];
      ok +=
          read_fields(reader, parser, p.data(), p.size(), p.size() + simdjson::SIMDJSON_PADDING, f);
      then();
    });
  };
  auto time_copied = [&](member_reader reader, auto then) {
    return mb::ns_per_iteration(iterations, [&](long i) {
      const auto& e = events[at(i)];
      ok += read_fields(reader, parser, copy.load(e), e.size(), copy.buf.size(), f);
      then();
    });
  };
  auto count_hits = [&] { hits += predicate(f); };
  auto keep = [&] { mb::sink = mb::sink + f.wiki.size(); };

  ns = time_padded(read_one_pass, count_hits);
  if (ok != static_cast<std::size_t>(iterations)) {
    std::fprintf(stderr, "simdjson failed on %zu records\n", iterations - ok);
    return 1;
  }
  // The reads above are checked against the project's evaluator through the predicate.
  if (hits != project_hits) {
    std::fprintf(stderr, "simdjson matched %zu, the project %zu\n", hits, project_hits);
    return 1;
  }
  report("simdjson: one pass, already padded (no copy)", time_padded(read_one_pass, keep));
  report("simdjson: one pass, copied into a padded buffer", time_copied(read_one_pass, keep));
  report("simdjson: find_field_unordered, already padded", time_padded(read_by_key, keep));
  report("simdjson: find_field_unordered, copied into a padded buffer",
         time_copied(read_by_key, keep));

  // (c) simdjson evaluating the same predicate (compare with (a)).
  hits = 0;
  ns = time_padded(read_one_pass, count_hits);
  report("simdjson: predicate, one pass, already padded", ns, hits);
  hits = 0;
  ns = time_copied(read_one_pass, count_hits);
  report("simdjson: predicate, one pass, copied into a padded buffer", ns, hits);
  mb::sink = mb::sink + ok;
  return 0;
}
