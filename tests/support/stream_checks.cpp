// Shared integration-test checks.
#include "stream_checks.hpp"

#include <sstream>
#include <stdexcept>

namespace eventstreams::test {

std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++n;
  return n;
}

std::vector<position> fresh_positions(const std::vector<std::string>& topics,
                                      std::int32_t partitions) {
  std::vector<position> out;
  for (const auto& t : topics) {
    for (std::int32_t p = 0; p < partitions; ++p)
      out.push_back({t, p, 0, std::nullopt});
  }
  return out;
}

int find_position(const std::vector<position>& positions, const std::string& topic,
                  std::int32_t partition) {
  for (std::size_t i = 0; i < positions.size(); ++i) {
    if (positions[i].topic == topic && positions[i].partition == partition) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

nlohmann::json id_json(const std::vector<position>& positions) {
  auto out = nlohmann::json::array();
  for (const auto& p : positions) {
    nlohmann::json e = {{"topic", p.topic}, {"partition", p.partition}, {"offset", p.offset}};
    if (p.timestamp)
      e["timestamp"] = *p.timestamp;
    out.push_back(std::move(e));
  }
  return out;
}

::testing::AssertionResult id_equals(const std::string& id_text,
                                     const std::vector<position>& expected) {
  auto got = parse_json(id_text);
  if (got.is_discarded())
    return ::testing::AssertionFailure() << "id is not JSON: " << id_text;
  if (!got.is_array())
    return ::testing::AssertionFailure() << "id is not an array: " << id_text;
  auto want = id_json(expected);
  if (got != want) {
    return ::testing::AssertionFailure() << "id " << got.dump() << "\n expected " << want.dump();
  }
  return ::testing::AssertionSuccess();
}

nlohmann::json expected_data(const produced_record& rec) {
  auto j = nlohmann::json::parse(rec.value);
  if (!j.contains("meta") || !j["meta"].is_object())
    j["meta"] = nlohmann::json::object();
  j["meta"]["topic"] = rec.topic;
  j["meta"]["partition"] = rec.partition;
  j["meta"]["offset"] = rec.offset;
  return j;
}

nlohmann::json parse_json(const std::string& text) {
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

std::unique_ptr<sse_client> open_stream(std::uint16_t port, const std::string& target,
                                        const header_list& headers, unsigned version,
                                        bool expect_ok, int rcvbuf) {
  auto c = std::make_unique<sse_client>(port, 5s, rcvbuf);
  c->send_request("GET", target, headers, version);
  // The header and the preamble come once the start positions are resolved: milliseconds on
  // the mock cluster. 10 s only ends a request that already failed.
  bool ok = c->read_head(10s) && c->head().status == 200;
  if (ok && expect_ok) {
    ok = c->read_until([](const sse_client& s) { return s.body().size() >= 5; }, 10s) &&
         c->body().starts_with(":ok\n\n");
  }
  if (!ok)
    throw std::runtime_error("GET " + target + " did not stream: " + describe(*c));
  return c;
}

std::string describe(const sse_client& c) {
  constexpr std::size_t tail = 600;
  const auto& raw = c.raw();
  std::string out = "received " + std::to_string(raw.size()) + " bytes, " +
                    std::to_string(c.events().size()) + " events" + (c.eof() ? ", EOF" : "") +
                    (c.protocol_error().empty() ? "" : ", protocol error: " + c.protocol_error()) +
                    (c.socket_error().empty() ? "" : ", socket error: " + c.socket_error());
  out +=
      raw.size() > tail ? "; last bytes: ..." + raw.substr(raw.size() - tail) : "; bytes: " + raw;
  return out;
}

double metric_sum(std::uint16_t port, const std::string& name, const std::string& filter) {
  std::istringstream in(http_get(port, "/metrics").body);
  double sum = 0;
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(name) || line.size() <= name.size())
      continue;
    char next = line[name.size()];
    if ((next != '{' && next != ' ') || line.find(filter) == std::string::npos)
      continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

void expect_stopped_by_the_deadline(const std::string& log) {
  const bool deadline = log.find("shutdown deadline passed") != std::string::npos;
  EXPECT_TRUE(log.find("stopped") != std::string::npos ||
              (deadline && log.find("still waiting for") != std::string::npos))
      << log;
}

}  // namespace eventstreams::test
