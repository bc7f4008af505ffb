// Embedded mock cluster and demo producer.
#include "embedded_cluster.hpp"

#include "rdkafka_handles.hpp"  // rdkafka.h must come before rdkafka_mock.h

#include <librdkafka/rdkafka_mock.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <pthread.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <ctime>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

#include "kafka_conf.hpp"

namespace eventstreams::kafka {

struct mock_cluster_deleter {
  void operator()(rd_kafka_mock_cluster_t* c) const noexcept { rd_kafka_mock_cluster_destroy(c); }
};

// Blocks every signal in the calling thread while it lives, so that a thread started meanwhile
// inherits a full mask. rd_kafka_new does this for its own threads, rd_kafka_mock_cluster_new
// (librdkafka 2.0) does not: the mock's thread could then take the daemon's SIGTERM, its poll()
// fails with EINTR, and the thread ends and frees the cluster under the daemon's feet (the
// shutdown then destroys it a second time: a lock of a destroyed mutex, or a crash).
class signals_blocked {
 public:
  signals_blocked() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved_);
  }
  ~signals_blocked() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  signals_blocked(const signals_blocked&) = delete;
  signals_blocked& operator=(const signals_blocked&) = delete;

 private:
  sigset_t saved_{};
};

struct embedded_cluster::impl {
  kafka_ptr owner;  // the mock cluster lives inside this handle's context; destroyed last
  std::unique_ptr<rd_kafka_mock_cluster_t, mock_cluster_deleter> cluster;
  std::string bootstrap;
  ~impl() {
    cluster.reset();
    owner.reset();
  }
};

embedded_cluster::embedded_cluster(const kafka_config& cfg, const std::vector<std::string>& topics)
    : impl_(std::make_unique<impl>()) {
  conf_ptr conf(rd_kafka_conf_new());
  rd_kafka_conf_set_log_cb(conf.get(), nullptr);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.release(), err, sizeof err);
  if (!rk)
    throw std::runtime_error(std::string("embedded kafka: ") + err);
  impl_->owner.reset(rk);
  {
    const signals_blocked in_the_mock_thread;
    impl_->cluster.reset(rd_kafka_mock_cluster_new(rk, static_cast<int>(cfg.embedded.brokers)));
  }
  if (!impl_->cluster)
    throw std::runtime_error("embedded kafka: cannot start the mock cluster");
  impl_->bootstrap = rd_kafka_mock_cluster_bootstraps(impl_->cluster.get());
  create_topics(topics, static_cast<int>(cfg.embedded.partitions));
}

embedded_cluster::~embedded_cluster() = default;

const std::string& embedded_cluster::bootstrap() const noexcept {
  return impl_->bootstrap;
}

void embedded_cluster::create_topics(const std::vector<std::string>& topics, int partitions) {
  // One creation at a time can take a full second each (the mock's thread sometimes misses
  // its wake-up in librdkafka 2.0); created concurrently they take milliseconds.
  std::vector<std::future<void>> pending;
  for (const auto& t : topics) {
    pending.push_back(
        std::async(std::launch::async, [this, t, partitions] { create_topic(t, partitions); }));
  }
  for (auto& p : pending)
    p.get();  // rethrows the first failure
}

void embedded_cluster::create_topic(const std::string& topic, int partitions) {
  auto e = rd_kafka_mock_topic_create(impl_->cluster.get(), topic.c_str(), partitions, 1);
  // A topic of a stream that a reload or a stream config refresh removed and a later one
  // brings back is still in the cluster: what the caller wants is there.
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
    throw std::runtime_error("embedded kafka: cannot create topic " + topic + ": " +
                             rd_kafka_err2str(e));
  }
}

std::string make_demo_event(const std::string& stream, std::uint64_t n, std::int64_t now_ms) {
  static constexpr std::array<const char*, 6> wikis{"enwiki",      "dewiki",       "frwiki",
                                                    "commonswiki", "wikidatawiki", "jawiki"};
  static constexpr std::array<const char*, 6> domains{"en.wikipedia.org", "de.wikipedia.org",
                                                      "fr.wikipedia.org", "commons.wikimedia.org",
                                                      "www.wikidata.org", "ja.wikipedia.org"};
  static constexpr std::array<const char*, 4> types{"edit", "new", "log", "categorize"};
  std::size_t w = n % wikis.size();
  bool canary = n % 100 == 99;  // about 1% canary events, as production has
  const char* domain = canary ? "canary" : domains[w];
  auto secs = now_ms / 1000;
  char dt[32];
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::strftime(dt, sizeof dt, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::string title = "Demo_page_" + std::to_string(n % 5000);
  nlohmann::ordered_json j;
  j["$schema"] = "/mediawiki/recentchange/1.0.0";
  j["meta"] = {{"uri", std::string("https://") + domains[w] + "/wiki/" + title},
               {"request_id", "demo-" + std::to_string(n)},
               {"id", "00000000-0000-4000-8000-" + std::to_string(100000000000 + n)},
               {"dt", dt},
               {"domain", domain},
               {"stream", stream}};
  j["id"] = n;
  j["type"] = types[n % types.size()];
  j["namespace"] = 0;
  j["title"] = title;
  j["title_url"] = std::string("https://") + domains[w] + "/wiki/" + title;
  j["comment"] = "Synthetic edit " + std::to_string(n) +
                 " produced by the eventstreams demo: copyedit, fix typo, add reference to "
                 "a reliable source, expand the lead section";
  j["timestamp"] = secs;
  j["user"] = "DemoUser" + std::to_string(n % 97);
  j["bot"] = n % 7 == 0;
  j["notify_url"] = std::string("https://") + domains[w] +
                    "/w/index.php?diff=" + std::to_string(1000000 + n) +
                    "&oldid=" + std::to_string(999999 + n);
  j["minor"] = n % 3 == 0;
  j["patrolled"] = n % 2 == 0;
  j["length"] = {{"old", 1000 + n % 900}, {"new", 1100 + n % 800}};
  j["revision"] = {{"old", 999999 + n}, {"new", 1000000 + n}};
  j["server_url"] = std::string("https://") + domains[w];
  j["server_name"] = domains[w];
  j["server_script_path"] = "/w";
  j["wiki"] = wikis[w];
  j["parsedcomment"] = "Synthetic edit " + std::to_string(n) +
                       " produced by the eventstreams demo: copyedit, fix typo, add "
                       "reference to a reliable source, expand the lead section";
  return j.dump();
}

struct demo_producer::impl {
  kafka_ptr rk;
  std::thread thread;
  std::mutex mutex;
  std::condition_variable cv;
  bool stop = false;

  void run(std::vector<stream_config> streams, double rate) {
    using clock = std::chrono::steady_clock;
    auto start = clock::now();
    std::uint64_t n = 0;
    std::vector<std::size_t> next_topic(streams.size(), 0);
    std::map<std::string, topic_ptr> handles;
    while (true) {
      auto due = start + std::chrono::duration_cast<clock::duration>(
                             std::chrono::duration<double>(static_cast<double>(n) / rate));
      {
        std::unique_lock lock(mutex);
        if (cv.wait_until(lock, due, [this] { return stop; }))
          break;
      }
      auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
      for (std::size_t s = 0; s < streams.size(); ++s) {
        const auto& topics = streams[s].topics;
        const auto& topic = topics[next_topic[s]++ % topics.size()];
        std::string value = make_demo_event(streams[s].name, n, now_ms);
        auto& handle = handles[topic];
        if (!handle)
          handle.reset(rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr));
        if (rd_kafka_produce(handle.get(), RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, value.data(),
                             value.size(), nullptr, 0, nullptr) != 0) {
          spdlog::debug("demo producer: {}", rd_kafka_err2str(rd_kafka_last_error()));
        }
      }
      rd_kafka_poll(rk.get(), 0);
      ++n;
    }
    rd_kafka_flush(rk.get(), 2000);
  }
};

demo_producer::demo_producer(const kafka_config& cfg, const std::string& bootstrap,
                             const std::vector<stream_config>& streams, double rate)
    : impl_(std::make_unique<impl>()) {
  auto conf = make_conf(cfg, bootstrap, client_role::producer);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof err);
  if (!rk)
    throw std::runtime_error(std::string("demo producer: ") + err);
  conf.release();
  impl_->rk.reset(rk);
  impl_->thread = std::thread([this, streams, rate] { impl_->run(streams, rate); });
}

demo_producer::~demo_producer() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable())
    impl_->thread.join();
}

}  // namespace eventstreams::kafka
