// The benchmark's events: synthetic MediaWiki recentchange events of about 1 KB, used by the
// load benchmark (workload.hpp) and the JSON field-reading micro-benchmark.
#pragma once

#include <cstdint>
#include <string>

namespace bench {

// Appends to `out` an event of about 1 KB shaped like a MediaWiki recentchange event, whose
// first member is "bench_sent_ns" (CLOCK_REALTIME ns) and second "bench_seq". Never a canary.
// `wiki` cycles through 6 wikis (enwiki when seq % 6 == 0) and `type` through edit, new, log,
// categorize (edit when seq % 4 == 0), `user` is "BenchUser<seq % 997>" and `title`
// "Bench_<seq % titles>" (titles > 0).
void make_event(std::uint64_t seq, std::int64_t sent_ns, std::string& out,
                std::uint64_t titles = 100000);

}  // namespace bench
