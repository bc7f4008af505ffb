// Connection churn: random Last-Event-IDs and random ways of leaving, checked answers.
#include "churn.hpp"

#include <optional>
#include <random>

#include "sse_client.hpp"
#include "stream_checks.hpp"  // describe
#include "test_producer.hpp"

namespace eventstreams::test {

// Ids seen on earlier connections, shared by the client threads (a bounded ring). Not in the
// anonymous namespace: churn_driver::state holds one.
class id_pool {
 public:
  void add(const std::string& id) {
    std::lock_guard lock(mutex_);
    if (ids_.size() < 256)
      ids_.push_back(id);
    else
      ids_[next_++ % ids_.size()] = id;
  }
  std::optional<std::string> pick(std::mt19937& rng) {
    std::lock_guard lock(mutex_);
    if (ids_.empty())
      return std::nullopt;
    return ids_[std::uniform_int_distribution<std::size_t>(0, ids_.size() - 1)(rng)];
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> ids_;
  std::size_t next_ = 0;
};

namespace {

const std::vector<std::string> malformed_ids = {
    "garbage",
    "[",
    R"([{"topic":)",
    R"([{"topic":"soak.a","partition":"0","offset":1}])",
    R"({"topic":"soak.a"})",
    R"([{"topic":"soak.a","partition":0,"offset":"x"}])",
    R"([{"topic":"soak.a","partition":0,"offset":1},7])"};
// Topics outside /v2/stream/soak; only the last one is outside /v2/stream/soak,other too.
const std::vector<std::string> foreign_ids = {
    R"([{"topic":"other.topic","partition":0,"offset":0}])", R"(["other.topic"])",
    R"([{"topic":"soak.a","partition":0,"offset":0},{"topic":"nowhere","partition":0}])"};

}  // namespace

struct churn_driver::state {
  explicit state(std::uint16_t p) : port(p) {}
  std::uint16_t port;
  id_pool ids;
  std::atomic<int> failures{0};
  std::atomic<std::uint64_t> cycles{0};
  std::mutex error_mutex;
  std::string first_error;
  void fail(const std::string& what) {
    std::lock_guard lock(error_mutex);
    if (failures++ == 0)
      first_error = what;
  }
};

namespace {

// Waits of one cycle: each is for one step that takes milliseconds (a response header, an event
// of a stream that receives ~40 per second); 20 s is far above that even on a loaded machine,
// and only ends a cycle that is already failing.
constexpr auto step_timeout = std::chrono::seconds(20);

// One connection: a random Last-Event-ID, then a random way of leaving.
void cycle(churn_driver::state& st, std::mt19937& rng) {
  const bool wide = rng() % 4 == 0;
  const std::string target = wide ? "/v2/stream/soak,other" : "/v2/stream/soak";
  header_list headers;
  int expect = 200;
  switch (std::uniform_int_distribution<int>(0, 9)(rng)) {
    case 0:
    case 1:
    case 2:
      if (auto id = st.ids.pick(rng))
        headers.emplace_back("Last-Event-ID", *id);
      break;
    case 3:
      headers.emplace_back("Last-Event-ID", malformed_ids[rng() % malformed_ids.size()]);
      expect = 400;
      break;
    case 4:
      headers.emplace_back("Last-Event-ID",
                           wide ? foreign_ids.back() : foreign_ids[rng() % foreign_ids.size()]);
      expect = 404;
      break;
    case 5:
      headers.emplace_back("Last-Event-ID", "");  // counts as absent
      break;
    default:
      break;
  }
  const int mode = std::uniform_int_distribution<int>(0, 6)(rng);
  if (mode == 6)
    headers.emplace_back("Accept", "application/json");
  const unsigned version = rng() % 8 == 0 ? 10 : 11;
  sse_client c(st.port);
  if (mode == 0) {  // leaves in the middle of its request
    c.send_raw("GET /v2/stream/soak HTTP/1.1\r\nHost: 127.0.0.1\r\nLast-Ev");
    return;
  }
  c.send_request("GET", target, headers, version);
  if (mode == 1)  // leaves before the response, while the daemon resolves positions
    return;
  if (!c.read_head(step_timeout) || c.head().status != expect) {
    return st.fail("expected " + std::to_string(expect) + " for " + target + " with " +
                   (headers.empty() ? "no id" : headers[0].second.substr(0, 80)) + ": " +
                   describe(c));
  }
  if (expect != 200 || mode == 2)  // leaves right after the response header
    return;
  if (mode == 3) {  // leaves inside the first event's bytes (events hold a 64 KB field)
    c.read_until([](const sse_client& s) { return s.body().size() > 200; }, step_timeout);
    return;
  }
  // Leaves after 1-3 events.
  const std::size_t want = 1 + rng() % 3;
  bool ok = mode == 6 ? c.read_until([&](const sse_client& s) { return s.lines().size() >= want; },
                                     step_timeout)
                      : c.read_events(want, step_timeout);
  if (!ok)
    return st.fail("no events on " + target + ": " + describe(c));
  if (mode != 6 && !wide)  // valid for both targets
    st.ids.add(c.events().back().id);
}

}  // namespace

std::vector<stream_def> churn_streams() {
  return {{"soak", {"soak.a", "soak.b"}, {}, false}, {"other", {"other.topic"}, {}, false}};
}

std::vector<std::pair<std::string, int>> churn_topics() {
  return {{"soak.a", 1}, {"soak.b", 1}, {"other.topic", 1}};
}

churn_feed::churn_feed(const std::string& bootstrap) {
  thread_ = std::jthread([bootstrap](std::stop_token stop) {
    test_producer p(bootstrap);
    const std::string big(64 * 1024, 'b');
    for (int i = 0; !stop.stop_requested(); ++i) {
      p.produce(i % 2 ? "soak.a" : "soak.b", 0,
                R"({"n":)" + std::to_string(i) + R"(,"pad":")" + (i % 16 == 0 ? big : "") + "\"}");
      std::this_thread::sleep_for(std::chrono::milliseconds(25));  // pacing
    }
  });
}

churn_feed::~churn_feed() {
  thread_.request_stop();
  thread_.join();
}

churn_driver::churn_driver(std::uint16_t port, int client_threads)
    : state_(std::make_unique<state>(port)),
      client_threads_(client_threads),
      failures_(state_->failures),
      cycles_(state_->cycles) {}

churn_driver::~churn_driver() = default;

std::string churn_driver::first_error() const {
  std::lock_guard lock(state_->error_mutex);
  return state_->first_error;
}

void churn_driver::run(int count, unsigned seed) {
  std::vector<std::jthread> threads;
  for (int t = 0; t < client_threads_; ++t) {
    threads.emplace_back([this, count, seed, t] {
      std::mt19937 rng(seed + static_cast<unsigned>(t));
      for (int i = t; i < count && state_->failures < 5; i += client_threads_) {
        try {
          cycle(*state_, rng);
        } catch (const std::exception& e) {
          state_->fail(std::string("cycle threw: ") + e.what());
        }
        ++state_->cycles;
      }
    });
  }
}

}  // namespace eventstreams::test
