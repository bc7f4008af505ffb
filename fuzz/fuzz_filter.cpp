// Fuzzes the filter language (docs/api.md "Server-side filters"): the input is up to 4 clauses
// separated by 0x01, then 0x00 and a record payload. Compiling never fails other than with an
// error that names a clause and a character inside it; a compiled filter's canonical form is
// one line, compiles to itself and means the same on the payload; evaluation is deterministic.
// The payload's fields are read by filter::extract() (simdjson On-Demand) exactly as by the
// scanner it replaced (tests/support/filter_reference_scanner.cpp), slot for slot.
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "eventstreams/filter.hpp"
#include "filter/program.hpp"
#include "filter_reference_scanner.hpp"
#include "fuzz_check.hpp"

namespace ef = eventstreams::filter;
using eventstreams::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto split = input.find('\0');
  const std::string_view text = input.substr(0, split);
  const std::string_view payload =
      split == std::string_view::npos ? std::string_view{} : input.substr(split + 1);
  std::vector<std::string> clauses;
  std::size_t start = 0;
  while (clauses.size() < 4) {
    const auto end = text.find('\x01', start);
    clauses.emplace_back(text.substr(start, end - start));
    if (end == std::string_view::npos)
      break;
    start = end + 1;
  }

  const ef::limits bounds;
  const auto made = ef::compile(clauses, bounds);
  if (made.error) {
    const auto& e = *made.error;
    check(!made.filter, "an error and a filter");
    check(!e.detail.empty(), "an error without a detail");
    check(e.clause <= clauses.size(), "the error names a clause that does not exist");
    if (e.clause > 0)
      check(e.offset >= 1 && e.offset <= clauses[e.clause - 1].size() + 1,
            "the error's character lies outside its clause");
    check((e.what == ef::compile_error::kind::too_complex) == !e.limit.empty(),
          "too_complex names a limit, invalid_filter none");
    return 0;
  }
  check(made.filter != nullptr, "no error and no filter");
  const std::string& canonical = made.filter->canonical();
  for (const char c : canonical)
    check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f, "a control character in canonical");

  // The canonical form may be a little longer or deeper than its input (quotes, a group around
  // an OR joined to other clauses): compile it with roomier bounds.
  ef::limits roomy;
  roomy.max_length = 1 << 20;
  roomy.max_depth = bounds.max_depth + 2;
  roomy.max_set_values = bounds.max_set_values * 4;
  const auto again = ef::compile(std::vector<std::string>{canonical}, roomy);
  check(!again.error, "the canonical form does not compile");
  check(again.filter->canonical() == canonical, "the canonical form is not a fixpoint");
  check(again.filter->fields() == made.filter->fields(), "the canonical form reads other fields");

  ef::record_view record;
  record.value = payload;
  record.topic = "fuzz.topic";
  record.partition = 1;
  record.offset = 42;
  record.timestamp = payload.size() % 2 == 0 ? 1700000000000 : -1;
  ef::scratch work;
  const bool first = made.filter->matches(record, work);
  check(made.filter->matches(record, work) == first, "evaluation is not deterministic");
  check(again.filter->matches(record, work) == first, "the canonical form means something else");

  // The fields the canonical form reads, by both readers (the program built as compile() does).
  ef::program prog;
  ef::parse_counts counts;
  check(!ef::parse_clause(canonical, 1, roomy, counts, prog.paths, prog.root),
        "the canonical form does not parse as one clause");
  prog.canonical = ef::normalise(prog.root, prog.paths, roomy);
  ef::lower(prog);
  ef::scratch theirs;
  ef::extract(prog, record, work.get());
  ef::reference::extract(prog, record, theirs.get());
  const auto difference = ef::reference::slot_difference(prog, work.get(), theirs.get());
  if (!difference.empty())
    std::fprintf(stderr, "%s\n", difference.c_str());
  check(difference.empty(), "extract() and the reference scanner read different fields");
  return 0;
}
