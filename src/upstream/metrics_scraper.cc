#include "upstream/metrics_scraper.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <limits>
#include <unordered_map>

#include "upstream/engine_metrics.h"
#include "upstream/http_get.h"

namespace kvroute::upstream {

namespace asio = boost::asio;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
/// vLLM's page is 50-100 KB for one model; a server with many models or LoRA adapters grows it.
constexpr std::size_t kMaxPageBytes = 16u << 20;
/// Ask for the classic text format: a prometheus_client that is offered OpenMetrics may answer in it.
constexpr std::string_view kAccept = "text/plain;version=0.0.4;q=1,*/*;q=0.1";

std::string target_key(const ScrapeTarget& t) { return t.backend.url + '\n' + t.path; }

std::uint32_t to_u32(std::uint64_t v) {
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(v, std::numeric_limits<std::uint32_t>::max()));
}

// Figures the page had are stored; those it lacks keep their value (SGLang has no prefix counters;
// vLLM's cache_config_info appears only once the engine is up).
void store(const EngineMetrics& m, routing::ScrapedMetrics& s, Nanos now) {
  constexpr auto relaxed = std::memory_order_relaxed;
  if (m.running) s.num_running.store(to_u32(*m.running), relaxed);
  if (m.waiting) s.num_waiting.store(to_u32(*m.waiting), relaxed);
  if (m.kv_usage) s.kv_usage.store(*m.kv_usage, relaxed);
  if (m.prefix_cache_hits) s.prefix_cache_hits.store(*m.prefix_cache_hits, relaxed);
  if (m.prefix_cache_queries) s.prefix_cache_queries.store(*m.prefix_cache_queries, relaxed);
  if (m.kv_capacity_tokens) s.kv_capacity_tokens.store(*m.kv_capacity_tokens, relaxed);
  if (m.preemptions) s.num_preemptions.store(*m.preemptions, relaxed);
  s.scraped_at.store(now, relaxed);
}

}  // namespace

/// One target's loop: its connection, timer, reused page buffer and status.
struct ScrapeLoop {
  ScrapeLoop(asio::io_context& io, ScrapeTarget t)
      : target(std::move(t)), client(io.get_executor(), target.backend), timer(io) {}

  ScrapeTarget target;
  HttpGetClient client;
  asio::steady_timer timer;
  std::string page;
  ScrapeStatus status;
  bool stopped = false;

  void stop() {
    stopped = true;
    timer.cancel();
    client.close();
  }

  std::string describe() const { return target.backend.name + " (" + target.backend.url + target.path + ")"; }

  void succeeded(const EngineMetrics& m, Nanos now) {
    for (const auto& state : target.states) store(m, state->scraped, now);
    ++status.successes;
    status.last_success_at = now;
    if (status.failing) {
      spdlog::info("metrics of {}: scraped again", describe());
      status.failing = false;
    }
  }

  void failed(std::string why) {
    ++status.failures;
    if (!status.failing) {
      // Once per outage, not once per attempt: at 20 attempts a second a dead backend would flood
      // the log.
      spdlog::warn("metrics of {}: {}; keeping the last figures, retrying every {}ms", describe(), why,
                   target.interval / kNanosPerMilli);
      status.failing = true;
    } else {
      spdlog::debug("metrics of {}: {}", describe(), why);
    }
    status.last_error = std::move(why);
  }
};

struct MetricsScraper::Impl {
  Impl(asio::io_context& i, const TimeSource& c) : io(i), clock(c) {}

  asio::io_context& io;
  const TimeSource& clock;
  std::vector<std::shared_ptr<ScrapeLoop>> loops;
  std::unordered_map<const routing::BackendState*, const ScrapeLoop*> by_state;

  static asio::awaitable<void> run(std::shared_ptr<ScrapeLoop> loop, const TimeSource& clock,
                                   std::chrono::nanoseconds first_delay);
  void index_states() {
    by_state.clear();
    for (const auto& loop : loops) {
      for (const auto& state : loop->target.states) by_state[state.get()] = loop.get();
    }
  }
};

asio::awaitable<void> MetricsScraper::Impl::run(std::shared_ptr<ScrapeLoop> loop, const TimeSource& clock,
                                                std::chrono::nanoseconds first_delay) {
  using Clock = std::chrono::steady_clock;
  if (first_delay.count() > 0) {
    loop->timer.expires_after(first_delay);
    co_await loop->timer.async_wait(kAwait);
  }
  while (!loop->stopped) {
    const auto began = Clock::now();
    HttpGetOptions options;
    options.timeout = loop->target.timeout;
    options.max_body = kMaxPageBytes;
    options.accept = kAccept;
    const auto status = co_await loop->client.get(loop->target.path, options, loop->page);
    if (loop->stopped) break;
    if (!status) {
      loop->failed(status.error().message);
    } else if (*status != 200) {
      loop->failed("HTTP status " + std::to_string(*status));
    } else {
      const EngineMetrics m = extract_engine_metrics(loop->page);
      if (m.has_load_figures()) {
        loop->succeeded(m, clock.now());
      } else {
        loop->failed("the page has no vLLM or SGLang load figures (running, waiting, KV usage)");
      }
    }
    // Fixed rate: due one interval after this scrape began; at once if it took longer than that.
    loop->timer.expires_at(std::max(began + std::chrono::nanoseconds(loop->target.interval), Clock::now()));
    co_await loop->timer.async_wait(kAwait);
  }
}

MetricsScraper::MetricsScraper(asio::io_context& io, const TimeSource& clock)
    : impl_(std::make_unique<Impl>(io, clock)) {}

MetricsScraper::~MetricsScraper() { stop(); }

void MetricsScraper::start(std::vector<ScrapeTarget> targets) {
  std::unordered_map<std::string, std::shared_ptr<ScrapeLoop>> running;
  for (auto& loop : impl_->loops) running.emplace(target_key(loop->target), std::move(loop));
  impl_->loops.clear();
  const std::size_t n = targets.size();
  for (std::size_t i = 0; i < n; ++i) {
    ScrapeTarget& t = targets[i];
    if (auto it = running.find(target_key(t)); it != running.end()) {
      ScrapeLoop& loop = *it->second;
      loop.client.set_target(t.backend);
      loop.target = std::move(t);
      impl_->loops.push_back(std::move(it->second));
      running.erase(it);
      continue;
    }
    const auto first_delay = std::chrono::nanoseconds(t.interval * static_cast<Nanos>(i) / static_cast<Nanos>(n));
    auto loop = std::make_shared<ScrapeLoop>(impl_->io, std::move(t));
    impl_->loops.push_back(loop);
    asio::co_spawn(impl_->io, Impl::run(std::move(loop), impl_->clock, first_delay), asio::detached);
  }
  for (auto& [key, loop] : running) loop->stop();
  impl_->index_states();
}

void MetricsScraper::stop() {
  for (auto& loop : impl_->loops) loop->stop();
  impl_->loops.clear();
  impl_->by_state.clear();
}

const ScrapeStatus* MetricsScraper::status(const routing::BackendState& state) const {
  const auto it = impl_->by_state.find(&state);
  return it == impl_->by_state.end() ? nullptr : &it->second->status;
}

std::size_t MetricsScraper::size() const { return impl_->loops.size(); }

}  // namespace kvroute::upstream
