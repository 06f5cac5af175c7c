#include "bench/fleet_driver.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <queue>
#include <stdexcept>
#include <utility>

#include "common/random.h"
#include "routing/dispatch_accounting.h"
#include "sim/kv_block_manager.h"

namespace kvroute::bench {
namespace {

// Event kinds in the order they are handled at one instant (see the header).
enum Kind : std::uint8_t { kStepEnd = 0, kScrape = 1, kArrival = 2, kDeadline = 3, kNone = 255 };

struct StepEnd {
  Nanos at;
  std::uint32_t backend;
  // Min-heap by time; ties by backend index, so the order never depends on heap internals.
  bool operator>(const StepEnd& o) const { return at != o.at ? at > o.at : backend > o.backend; }
};

struct BackendRun {
  bool stepping = false;      ///< a pass is in flight (a StepEnd is queued)
  bool kick_pending = false;  ///< received work while idle; starts a pass at the end of this instant
  double usage = 0;           ///< KV usage since `usage_since`
  Nanos usage_since = 0;
  double usage_integral = 0;  ///< usage x seconds
  std::uint64_t dispatched = 0;
};

}  // namespace

class FleetSimulation::Impl {
 public:
  Impl(const Workload& workload, const Fleet& fleet, const routing::PolicyFactory& factory, SimOptions options)
      : workload_(workload),
        options_(options),
        accounting_(factory.estimator_config()),
        random_(options.seed),
        ctx_{clock_, random_, {}} {
    if (fleet.backends.empty()) throw std::invalid_argument("FleetSimulation: empty fleet");
    if (options.timeout <= 0) throw std::invalid_argument("FleetSimulation: timeout must be > 0");
    if (options.scrape_interval <= 0) throw std::invalid_argument("FleetSimulation: scrape interval must be > 0");
    if (!(options.time_scale > 0) || !std::isfinite(options.time_scale)) {
      throw std::invalid_argument("FleetSimulation: time scale must be > 0");
    }

    std::vector<routing::BackendSpec> specs;
    for (std::size_t i = 0; i < fleet.backends.size(); ++i) {
      const FleetBackend& b = fleet.backends[i];
      routing::BackendSpec s;
      s.id = fmt::format("sim-{}", i);
      s.url = fmt::format("sim://backend-{}", i);
      s.weight = b.weight;
      s.labels = {{"preset", b.preset->name}};
      // No capacity hints, as in a pool configured by URL only: KV capacity reaches the policies
      // through the scrape (kv_capacity_tokens), as from vLLM's cache_config_info.
      specs.push_back(std::move(s));

      sim::EngineConfig config;
      config.preset = *b.preset;
      config.speed_factor = b.speed_factor;
      engines_.push_back(std::make_unique<sim::Engine>(std::move(config)));
    }
    auto set = routing::BackendSet::build(std::move(specs));
    if (!set) throw std::invalid_argument("FleetSimulation: " + set.error().message);
    set_ = std::move(*set);
    factory.prepare(*set_);
    policy_ = factory.create();
    runs_.resize(engines_.size());

    const auto requests = workload_.requests();
    arrivals_.reserve(requests.size());
    records_.resize(requests.size());
    tickets_.resize(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
      const Nanos at = static_cast<Nanos>(std::llround(static_cast<double>(requests[i].arrival) * options_.time_scale));
      arrivals_.push_back(at);
      records_[i].arrival = at;
      records_[i].prompt_tokens = requests[i].prompt_tokens;
      records_[i].output_tokens = requests[i].output_tokens;
    }
  }

  RunResult run() {
    const std::size_t n = arrivals_.size();
    remaining_ = n;
    std::size_t next_arrival = 0;
    std::size_t next_deadline = 0;
    Nanos next_scrape = 0;
    Nanos now = 0;

    while (remaining_ > 0) {
      // The earliest event; at equal times the lower kind goes first.
      Nanos at = 0;
      Kind kind = kNone;
      const auto consider = [&](Nanos t, Kind k) {
        if (kind == kNone || t < at || (t == at && k < kind)) {
          at = t;
          kind = k;
        }
      };
      if (!steps_.empty()) consider(steps_.top().at, kStepEnd);
      consider(next_scrape, kScrape);
      if (next_arrival < n) consider(arrivals_[next_arrival], kArrival);
      // Deadlines follow arrival order (a constant timeout), so one cursor covers them.
      while (next_deadline < next_arrival && records_[next_deadline].status != RequestStatus::kPending) ++next_deadline;
      if (next_deadline < next_arrival) consider(arrivals_[next_deadline] + options_.timeout, kDeadline);

      // Idle engines that got work during the current instant start their pass before time moves on.
      if (!kicks_.empty() && at > now) {
        start_kicked(now);
        continue;
      }
      now = at;
      clock_.advance_to(now);
      switch (kind) {
        case kStepEnd: {
          const std::uint32_t b = steps_.top().backend;
          steps_.pop();
          on_step_end(b, now);
          break;
        }
        case kScrape:
          scrape(now);
          next_scrape += options_.scrape_interval;
          break;
        case kArrival:
          queue_.push_back(static_cast<std::uint32_t>(next_arrival));
          ++next_arrival;
          drain(now);
          break;
        case kDeadline:
          on_deadline(static_cast<std::uint32_t>(next_deadline), now);
          ++next_deadline;
          break;
        case kNone:
          break;
      }
    }

    RunResult result;
    result.start = n == 0 ? 0 : arrivals_.front();
    result.end = result.start;
    for (const auto& r : records_) result.end = std::max(result.end, r.finished);
    const double span_s = nanos_to_seconds(result.end - result.start);
    double usage_sum = 0;
    for (std::size_t b = 0; b < engines_.size(); ++b) {
      integrate_usage(static_cast<std::uint32_t>(b), result.end);
      usage_sum += runs_[b].usage_integral;
      const auto stats = engines_[b]->stats();
      result.prefix_cache_hits += stats.prefix_cache_hits;
      result.prefix_cache_queries += stats.prefix_cache_queries;
      result.preemptions += stats.num_preemptions;
      result.engine_steps += stats.steps;
      result.dispatched_per_backend.push_back(runs_[b].dispatched);
    }
    result.kv_usage_mean = span_s > 0 ? usage_sum / (span_s * static_cast<double>(engines_.size())) : 0.0;
    result.max_queued = max_queued_;
    result.requests = std::move(records_);
    return result;
  }

  void set_scrape_observer(std::function<void(Nanos)> observer) { scrape_observer_ = std::move(observer); }
  const routing::BackendSet& backends() const { return *set_; }
  const sim::Engine& engine(std::uint32_t b) const { return *engines_.at(b); }

 private:
  void integrate_usage(std::uint32_t b, Nanos now) {
    BackendRun& r = runs_[b];
    if (now > r.usage_since) {
      r.usage_integral += r.usage * nanos_to_seconds(now - r.usage_since);
      r.usage_since = now;
    }
  }
  void note_usage(std::uint32_t b, Nanos now) {
    integrate_usage(b, now);
    runs_[b].usage = engines_[b]->kv_blocks().usage();
  }

  /// Starts a pass on engine b at `now` if it has work and none is in flight.
  void start_step(std::uint32_t b, Nanos now) {
    BackendRun& r = runs_[b];
    integrate_usage(b, now);
    const auto end = engines_[b]->step(now);
    runs_[b].usage = engines_[b]->kv_blocks().usage();
    r.stepping = end.has_value();
    if (end) steps_.push(StepEnd{*end, b});
  }

  void start_kicked(Nanos now) {
    for (const std::uint32_t b : kicks_) {
      runs_[b].kick_pending = false;
      if (!runs_[b].stepping) start_step(b, now);
    }
    kicks_.clear();
  }

  void on_step_end(std::uint32_t b, Nanos now) {
    runs_[b].stepping = false;
    sim::Engine& engine = *engines_[b];
    bool changed = false;
    for (const sim::EngineEvent& ev : engine.events()) {
      if (ev.kind != sim::EventKind::kToken) continue;
      RequestRecord& rec = records_[ev.id];
      if (rec.status != RequestStatus::kPending) continue;  // timed out while this pass ran
      routing::DispatchTicket& ticket = tickets_[ev.id];
      if (ev.output_index == 0) {
        rec.first_token = now;
        // The backend's usage report (prompt_tokens, prompt_tokens_details.cached_tokens), as a
        // gateway gets it with the first chunk when it asks vLLM for continuous usage stats.
        routing::PromptUsage usage;
        usage.prompt_tokens = rec.prompt_tokens;
        if (const auto info = engine.request_info(ev.id)) {
          rec.cached_tokens = info->cached_tokens;
          usage.cached_tokens = info->cached_tokens;
        }
        accounting_.first_token(ticket, now, policy_.get(), usage);
        changed = true;
      }
      if (ev.finished) {
        rec.finished = now;
        rec.status = RequestStatus::kCompleted;
        accounting_.complete(ticket, routing::Outcome::kOk, ev.output_index + 1, now, policy_.get());
        ticket = routing::DispatchTicket{};
        --remaining_;
        changed = true;
      }
    }
    start_step(b, now);
    if (changed) drain(now);
  }

  void scrape(Nanos now) {
    for (std::size_t b = 0; b < engines_.size(); ++b) {
      const sim::EngineStats s = engines_[b]->stats();
      routing::ScrapedMetrics& m = (*set_)[static_cast<std::uint32_t>(b)].state().scraped;
      m.num_running.store(s.num_running, std::memory_order_relaxed);
      m.num_waiting.store(s.num_waiting, std::memory_order_relaxed);
      m.kv_usage.store(s.kv_cache_usage, std::memory_order_relaxed);
      m.prefix_cache_hits.store(s.prefix_cache_hits, std::memory_order_relaxed);
      m.prefix_cache_queries.store(s.prefix_cache_queries, std::memory_order_relaxed);
      m.num_preemptions.store(s.num_preemptions, std::memory_order_relaxed);
      // vLLM's cache_config_info: num_gpu_blocks x block_size.
      m.kv_capacity_tokens.store(engines_[b]->config().preset.kv_capacity_tokens(), std::memory_order_relaxed);
      m.scraped_at.store(now, std::memory_order_relaxed);
    }
    if (scrape_observer_) scrape_observer_(now);
    drain(now);
  }

  void on_deadline(std::uint32_t i, Nanos now) {
    RequestRecord& rec = records_[i];
    if (rec.status != RequestStatus::kPending || rec.first_token != routing::kNever) return;
    rec.status = RequestStatus::kTimedOut;
    rec.finished = now;
    --remaining_;
    if (rec.dispatched == routing::kNever) return;  // still queued: drain() skips it
    engines_[rec.backend]->abort(i);
    note_usage(rec.backend, now);
    accounting_.complete(tickets_[i], routing::Outcome::kError, 0, now, policy_.get());
    tickets_[i] = routing::DispatchTicket{};
    drain(now);
  }

  void drain(Nanos now) {
    while (!queue_.empty()) {
      const std::uint32_t i = queue_.front();
      if (records_[i].status != RequestStatus::kPending) {
        queue_.pop_front();
        continue;
      }
      const WorkloadRequest& w = workload_.requests()[i];
      routing::RequestFeatures f;
      f.model = workload_.models()[w.model];
      f.stream = true;
      f.max_tokens = w.output_tokens;
      f.prompt_tokens = w.estimated_tokens;
      f.block_hashes = workload_.feature_hashes(w);
      f.routing_key = w.routing_key;
      f.arrival = records_[i].arrival;
      f.deadline = records_[i].arrival + options_.timeout;
      const auto picked = policy_->pick(f, *set_, ctx_);
      if (!picked) break;
      queue_.pop_front();
      dispatch(i, *picked, f, now);
    }
    max_queued_ = std::max(max_queued_, queue_.size());
  }

  void dispatch(std::uint32_t i, std::uint32_t b, const routing::RequestFeatures& f, Nanos now) {
    if (b >= engines_.size()) throw std::logic_error("policy returned a backend index out of range");
    RequestRecord& rec = records_[i];
    rec.dispatched = now;
    rec.backend = b;
    ++runs_[b].dispatched;
    tickets_[i] = accounting_.dispatch(set_, b, f, now, policy_.get());

    const WorkloadRequest& w = workload_.requests()[i];
    sim::EngineRequest er;
    er.id = i;
    er.prompt_tokens = w.prompt_tokens;
    const auto hashes = workload_.engine_hashes(w);
    er.block_hashes.assign(hashes.begin(), hashes.end());
    er.output_tokens = w.output_tokens;
    if (!engines_[b]->add_request(std::move(er))) {
      rec.status = RequestStatus::kRejected;
      rec.finished = now;
      --remaining_;
      accounting_.complete(tickets_[i], routing::Outcome::kError, 0, now, policy_.get());
      tickets_[i] = routing::DispatchTicket{};
      return;
    }
    if (!runs_[b].stepping && !runs_[b].kick_pending) {
      runs_[b].kick_pending = true;
      kicks_.push_back(b);
    }
  }

  const Workload& workload_;
  SimOptions options_;
  routing::BackendSetPtr set_;
  std::vector<std::unique_ptr<sim::Engine>> engines_;
  std::vector<BackendRun> runs_;
  std::unique_ptr<routing::Policy> policy_;
  routing::DispatchAccounting accounting_;
  VirtualClock clock_;
  SeededRandom random_;
  routing::PickContext ctx_;

  std::vector<Nanos> arrivals_;
  std::vector<RequestRecord> records_;
  std::vector<routing::DispatchTicket> tickets_;
  std::deque<std::uint32_t> queue_;
  std::priority_queue<StepEnd, std::vector<StepEnd>, std::greater<>> steps_;
  std::vector<std::uint32_t> kicks_;
  std::size_t remaining_ = 0;
  std::size_t max_queued_ = 0;
  std::function<void(Nanos)> scrape_observer_;
};

FleetSimulation::FleetSimulation(const Workload& workload, const Fleet& fleet, const routing::PolicyFactory& factory,
                                 SimOptions options)
    : impl_(std::make_unique<Impl>(workload, fleet, factory, options)) {}
FleetSimulation::~FleetSimulation() = default;
RunResult FleetSimulation::run() { return impl_->run(); }
void FleetSimulation::set_scrape_observer(std::function<void(Nanos)> observer) {
  impl_->set_scrape_observer(std::move(observer));
}
const routing::BackendSet& FleetSimulation::backends() const { return impl_->backends(); }
const sim::Engine& FleetSimulation::engine(std::uint32_t backend) const { return impl_->engine(backend); }

}  // namespace kvroute::bench
