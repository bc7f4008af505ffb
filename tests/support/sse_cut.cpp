// Blocks of an SSE body and random cuts among them.
#include "sse_cut.hpp"

namespace eventstreams::test {

std::vector<std::size_t> body_byte_positions(const std::string& raw, std::size_t pos) {
  std::vector<std::size_t> out;
  while (true) {
    auto eol = raw.find("\r\n", pos);
    if (eol == std::string::npos)
      break;
    auto size = std::stoull(raw.substr(pos, eol - pos), nullptr, 16);
    if (size == 0)
      break;
    pos = eol + 2;
    for (std::size_t i = 0; i < size && pos + i < raw.size(); ++i)
      out.push_back(pos + i);
    pos += size + 2;
    if (pos > raw.size())
      break;
  }
  return out;
}

std::vector<sse_block> blocks_with_id(const std::string& body) {
  std::vector<sse_block> out;
  std::size_t pos = 0;
  while (true) {
    auto blank = body.find("\n\n", pos);
    if (blank == std::string::npos)
      break;
    if (body[pos] != ':')
      out.push_back({pos, blank + 2, body.compare(pos, 4, "id: ") != 0});
    pos = blank + 2;
  }
  return out;
}

connection_cut cut_after(const sse_client& c, const std::vector<sse_block>& blocks,
                         std::size_t keep) {
  const std::size_t raw =
      keep == 0 ? c.head_size()
                : body_byte_positions(c.raw(), c.head_size())[blocks[keep - 1].end - 1] + 1;
  return {keep, raw, "cut after block " + std::to_string(keep)};
}

connection_cut choose_cut(const sse_client& c, const std::vector<sse_block>& blocks,
                          std::mt19937_64& rng, std::size_t min_keep) {
  const std::size_t n = blocks.size();
  switch (rng() % 4) {
    case 0:
    case 1:
      if (n > min_keep) {
        // Inside block j: at least its first byte arrived, its final '\n' did not.
        const auto pos = body_byte_positions(c.raw(), c.head_size());
        std::size_t j = min_keep + rng() % (n - min_keep);
        std::size_t lo = pos[blocks[j].begin] + 1, hi = pos[blocks[j].end - 1];
        std::size_t at = lo + rng() % (hi - lo + 1);
        return {j, at, "cut at byte " + std::to_string(at) + " inside block " + std::to_string(j)};
      }
      [[fallthrough]];
    case 2:
      return cut_after(c, blocks, min_keep + rng() % (n - min_keep + 1));
    default:
      return {n, c.raw().size(), "closed after all " + std::to_string(n) + " received"};
  }
}

}  // namespace eventstreams::test
