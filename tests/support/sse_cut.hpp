// Where a test client pretends its connection broke: the blocks of an SSE body that carry an
// id, and a random cut among them (between blocks, or inside one on the wire), as a client whose
// socket died there would see it (tests/support/resume_scenario.cpp).
#pragma once

#include <cstddef>
#include <random>
#include <string>
#include <vector>

#include "sse_client.hpp"

namespace eventstreams::test {

// Where each byte of the decoded (chunked) body lies in `raw`, for the body received so far;
// `pos` is where the body starts in `raw` (the header's size).
std::vector<std::size_t> body_byte_positions(const std::string& raw, std::size_t pos);

// [begin, end) of a complete block with an id in an SSE body: an event, or an id-only block
// ("id: …" with no data, which fires no event but sets the id).
struct sse_block {
  std::size_t begin = 0;
  std::size_t end = 0;
  bool event = false;
};
// The complete blocks with an id in `body`, in order; comment blocks (":ok", ": filter …", ":")
// are left out.
std::vector<sse_block> blocks_with_id(const std::string& body);

struct connection_cut {
  std::size_t keep = 0;       // complete blocks before the cut
  std::size_t raw_bytes = 0;  // the cut, in bytes of the response as received
  std::string how;            // for the test's transcript
};

// A cut right after the first `keep` of `blocks` (on the wire: after that block's last byte).
connection_cut cut_after(const sse_client& c, const std::vector<sse_block>& blocks,
                         std::size_t keep);

// Where the client pretends its connection broke, keeping at least `min_keep` of `blocks`
// (blocks_with_id(c.body())). It has received at least `raw_bytes` bytes; only the blocks
// complete within them count.
connection_cut choose_cut(const sse_client& c, const std::vector<sse_block>& blocks,
                          std::mt19937_64& rng, std::size_t min_keep);

}  // namespace eventstreams::test
