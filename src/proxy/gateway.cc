#include "proxy/gateway.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <ostream>
#include <random>
#include <thread>

#include "admin/admin_server.h"
#include "config/load_config.h"
#include "proxy/admin_metrics.h"
#include "proxy/models_catalog.h"
#include "proxy/scrape_targets.h"
#include "proxy/session.h"
#include "proxy/worker.h"
#include "routing/policy_registry.h"
#include "upstream/http_get.h"
#include "upstream/metrics_scraper.h"

namespace kvroute::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
/// Kept-alive backend connections idle longer than this are closed by the periodic sweep.
constexpr Nanos kMaxIdleConnection = 60 * kNanosPerSecond;
constexpr auto kSweepInterval = std::chrono::seconds(5);
/// Per backend, for the model list: start-up must not wait long on a backend that is down.
constexpr auto kModelsFetchTimeout = std::chrono::milliseconds(1500);

unsigned default_workers() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

std::string url_host(const std::string& host) { return host.find(':') != std::string::npos ? "[" + host + "]" : host; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Worker

Worker::Worker(SharedState& shared, unsigned index, std::uint64_t seed)
    // Every socket of a worker is used by that worker's thread only, so the reactor's per-descriptor
    // locks are switched off; the scheduler keeps its lock (the control thread posts to workers).
    : shared_(shared),
      index_(index),
      io_(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO),
      sweep_timer_(io_),
      random_(derive_seed(seed, index)) {
  request_id_prefix_ = random_.next_u64();
}

Worker::~Worker() = default;

tcp::endpoint Worker::listen(const tcp::endpoint& endpoint) {
  auto acceptor = std::make_unique<tcp::acceptor>(io_);
  acceptor->open(endpoint.protocol());
  acceptor->set_option(asio::socket_base::reuse_address(true));
  // Every worker binds the same address; the kernel spreads incoming connections over them.
  const int one = 1;
  if (::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    throw boost::system::system_error(errno, boost::system::system_category(), "setsockopt(SO_REUSEPORT)");
  }
  acceptor->bind(endpoint);
  acceptor->listen(asio::socket_base::max_listen_connections);
  const tcp::endpoint bound = acceptor->local_endpoint();
  acceptors_.push_back(std::move(acceptor));
  return bound;
}

void Worker::run() {
  for (auto& acceptor : acceptors_) asio::co_spawn(io_, accept_loop(*acceptor), asio::detached);
  asio::co_spawn(io_, sweep_loop(), asio::detached);
  io_.run();
}

asio::awaitable<void> Worker::accept_loop(tcp::acceptor& acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kAwait);
    if (draining_ || !acceptor.is_open()) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // Out of descriptors or similar: back off a moment rather than spin on the error.
      spdlog::warn("worker {}: accept failed: {}", index_, ec.message());
      asio::steady_timer pause(io_);
      pause.expires_after(std::chrono::milliseconds(10));
      co_await pause.async_wait(kAwait);
      continue;
    }
    stats_.connections_accepted.add();
    const auto limit = current()->snapshot->limits.max_connections;
    if (shared_.client_connections.fetch_add(1, std::memory_order_relaxed) >= limit) {
      shared_.client_connections.fetch_sub(1, std::memory_order_relaxed);
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto session = std::make_shared<Session>(*this, std::move(socket));
    asio::co_spawn(io_, session->run(), asio::detached);
  }
}

asio::awaitable<void> Worker::sweep_loop() {
  for (;;) {
    sweep_timer_.expires_after(kSweepInterval);
    auto [ec] = co_await sweep_timer_.async_wait(kAwait);
    if (ec || draining_) co_return;
    close_idle_connections(false);
  }
}

void Worker::close_idle_connections(bool all) {
  const Nanos now = shared_.clock.now();
  for (auto& [key, entry] : pools_) {
    entry.pool->evict_idle(
        [&](upstream::UpstreamConnection& c, Nanos since) {
          return !all && now - since < kMaxIdleConnection && upstream::idle_connection_usable(c.socket);
        },
        [](upstream::UpstreamConnection& c) { upstream::close_quietly(c.socket); });
  }
}

void Worker::begin_drain() {
  asio::post(io_, [this] {
    if (draining_) return;
    draining_ = true;
    for (auto& acceptor : acceptors_) {
      boost::system::error_code ignored;
      acceptor->close(ignored);
    }
    sweep_timer_.cancel();
    for (Session* s = sessions_; s != nullptr; s = s->next_) s->close_if_idle();
    close_idle_connections(true);
  });
}

void Worker::force_close() {
  asio::post(io_, [this] {
    for (Session* s = sessions_; s != nullptr; s = s->next_) s->force_close();
    close_idle_connections(true);
  });
}

upstream::UpstreamPool& Worker::connection_pool(const routing::Backend& backend, std::uint32_t max_connections) {
  auto it = pools_.find(backend.shared_state.get());
  if (it == pools_.end()) {
    PoolEntry entry{backend.shared_state, std::make_unique<upstream::UpstreamPool>(max_connections)};
    it = pools_.emplace(backend.shared_state.get(), std::move(entry)).first;
  }
  return *it->second.pool;
}

const std::shared_ptr<Worker::LocalSnapshot>& Worker::current() {
  const auto generation = shared_.snapshot_generation.load(std::memory_order_acquire);
  if (generation != local_generation_ || !local_) {
    auto snap = shared_.snapshot.load();
    auto local = std::make_shared<LocalSnapshot>();
    local->snapshot = snap;
    for (const PoolRuntime& pool : snap->pools) {
      LocalPool lp;
      lp.policy = pool.factory->create();
      for (std::uint32_t i = 0; i < pool.set->size(); ++i) {
        lp.connections.push_back(&connection_pool((*pool.set)[i], pool.targets[i].max_connections));
      }
      lp.hold = &hold_queue(pool.config.name);
      local->pools.push_back(std::move(lp));
    }
    local_ = std::move(local);
    local_generation_ = snap->generation;
  }
  return local_;
}

void Worker::next_request_id(std::string& out) {
  // 32 hex digits: the worker's random prefix, then its counter. Written by hand: snprintf cost
  // about a thousand instructions per request (2 % of the whole request path).
  static constexpr char kHex[] = "0123456789abcdef";
  char buf[32];
  const std::uint64_t halves[2] = {request_id_prefix_, ++request_id_counter_};
  for (int h = 0; h < 2; ++h) {
    std::uint64_t v = halves[h];
    for (int i = 15; i >= 0; --i) {
      buf[h * 16 + i] = kHex[v & 0xf];
      v >>= 4;
    }
  }
  out.assign(buf, sizeof buf);
}

void Worker::session_started(Session* s) {
  s->prev_ = nullptr;
  s->next_ = sessions_;
  if (sessions_ != nullptr) sessions_->prev_ = s;
  sessions_ = s;
}

void Worker::session_ended(Session* s) {
  if (s->prev_ != nullptr) {
    s->prev_->next_ = s->next_;
  } else {
    sessions_ = s->next_;
  }
  if (s->next_ != nullptr) s->next_->prev_ = s->prev_;
  s->prev_ = s->next_ = nullptr;
  shared_.client_connections.fetch_sub(1, std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------------------------
// Gateway

struct Gateway::Impl {
  config::GatewayConfig config;
  GatewayOptions options;
  SharedState shared;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> threads;
  std::vector<std::string> urls;
  asio::io_context control{1};
  asio::signal_set signals{control};
  asio::steady_timer grace_timer{control};
  asio::steady_timer refresh_timer{control};
  std::vector<std::size_t> discover_pools;
  std::int64_t created = 0;
  std::string models_body;
  unsigned running = 0;
  bool shutting_down = false;
  // Declared after `control`, so destroyed before it: their sockets and timers belong to it.
  /// Reads the backends' metrics pages into their BackendState (started once the gateway is up).
  std::unique_ptr<upstream::MetricsScraper> scraper;
  /// The admin listener (admin.listen); kept open through the drain, closed when the workers end.
  std::unique_ptr<admin::AdminServer> admin_server;
  std::string admin_url;

  /// The admin /metrics page (control thread): worker shards summed, backends' atomics read.
  void admin_metrics_page(std::string& out) const {
    StatsTotals totals;
    for (const auto& w : workers) totals.add(w->stats());
    render_admin_metrics(*shared.snapshot.load(), totals, shared.client_connections.load(std::memory_order_relaxed),
                         scraper.get(), shared.clock.now(), out);
  }
  Result<void> bind_admin();

  void render_models(const std::vector<DiscoveredModel>& discovered) {
    std::string body = render_models_body(config, shared.snapshot.load()->router, discovered, created);
    if (body != models_body) {
      models_body = body;
      shared.models_body.store(std::make_shared<const std::string>(std::move(body)));
    }
  }

  asio::awaitable<std::optional<std::string>> fetch_models(const upstream::BackendTarget& target);
  asio::awaitable<void> discover_models();
  asio::awaitable<void> refresh_loop();
  void begin_shutdown();
  void worker_finished();
};

asio::awaitable<std::optional<std::string>> Gateway::Impl::fetch_models(const upstream::BackendTarget& target) {
  upstream::HttpGetClient client(control.get_executor(), target);
  upstream::HttpGetOptions get;
  get.timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(kModelsFetchTimeout).count();
  get.max_body = 4u << 20;
  get.accept = "application/json";
  get.keep_alive = false;  // asked once at start-up and every models_refresh: not worth a kept connection
  std::string body;
  const auto status = co_await client.get("/v1/models", get, body);
  if (!status || *status != 200) co_return std::nullopt;
  co_return body;
}

asio::awaitable<void> Gateway::Impl::discover_models() {
  std::vector<DiscoveredModel> found;
  const auto snap = shared.snapshot.load();
  for (const std::size_t p : discover_pools) {
    if (p >= snap->pools.size()) continue;
    for (const auto& target : snap->pools[p].targets) {
      if (shutting_down) co_return;
      const auto body = co_await fetch_models(target);
      if (!body) {
        spdlog::debug("models of {}: no answer from {}", snap->pools[p].config.name, target.url);
        continue;
      }
      for (auto& id : parse_model_ids(*body)) found.push_back(DiscoveredModel{p, std::move(id)});
    }
  }
  render_models(found);
}

asio::awaitable<void> Gateway::Impl::refresh_loop() {
  for (;;) {
    refresh_timer.expires_after(std::chrono::nanoseconds(options.models_refresh));
    auto [ec] = co_await refresh_timer.async_wait(kAwait);
    if (ec || shutting_down) co_return;
    co_await discover_models();
  }
}

void Gateway::Impl::begin_shutdown() {
  if (shutting_down) return;
  shutting_down = true;
  spdlog::info("shutting down: no new connections; in-flight requests get {}s to finish",
               nanos_to_seconds(config.server.shutdown_grace));
  refresh_timer.cancel();
  if (scraper) scraper->stop();  // no new requests will be routed: the figures are of no more use
  for (auto& w : workers) w->begin_drain();
  grace_timer.expires_after(std::chrono::nanoseconds(config.server.shutdown_grace));
  grace_timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    spdlog::info("shutdown grace period over: closing remaining connections");
    for (auto& w : workers) w->force_close();
  });
}

void Gateway::Impl::worker_finished() {
  if (running > 0) --running;
  if (running == 0) {
    grace_timer.cancel();
    refresh_timer.cancel();
    if (scraper) scraper->stop();
    if (admin_server) admin_server->stop();
    boost::system::error_code ignored;
    signals.cancel(ignored);
  }
}

Result<void> Gateway::Impl::bind_admin() {
  if (!config.admin.listen) return {};
  admin::AdminRoutes routes;
  routes.metrics = [this](std::string& out) { admin_metrics_page(out); };
  routes.serving = [this] { return !shutting_down; };
  admin::AdminServerOptions admin_options;
  admin_options.token = config.admin.token;
  admin_server = std::make_unique<admin::AdminServer>(control, std::move(routes), std::move(admin_options));
  const auto port = admin_server->listen(*config.admin.listen);
  if (!port) return port.error();
  admin_url = fmt::format("http://{}:{}", url_host(config.admin.listen->host), *port);
  return {};
}

Gateway::Gateway() : impl_(std::make_unique<Impl>()) {}

Gateway::~Gateway() {
  if (!impl_) return;
  if (!impl_->threads.empty() && !impl_->shutting_down) {
    for (auto& w : impl_->workers) w->begin_drain();
    for (auto& w : impl_->workers) w->force_close();
  }
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
}

Result<std::unique_ptr<Gateway>> Gateway::create(config::GatewayConfig config, GatewayOptions options) {
  std::unique_ptr<Gateway> g(new Gateway());
  Impl& impl = *g->impl_;
  impl.config = std::move(config);
  impl.options = options;
  if (impl.options.seed == 0)
    impl.options.seed = (std::uint64_t{std::random_device{}()} << 32) | std::random_device{}();
  const auto registry = routing::PolicyRegistry::with_builtin_policies();
  auto snap = build_routing_snapshot(impl.config, registry);
  if (!snap) return snap.error();
  impl.shared.publish(std::move(*snap));
  impl.created = static_cast<std::int64_t>(std::time(nullptr));
  impl.discover_pools = pools_to_discover(impl.config);
  impl.render_models({});

  unsigned n = 1;
  for (const auto& l : impl.config.listeners) {
    n = std::max(n, l.workers == 0 ? default_workers() : static_cast<unsigned>(l.workers));
  }
  for (unsigned i = 0; i < n; ++i) {
    impl.workers.push_back(std::make_unique<Worker>(impl.shared, i, impl.options.seed));
  }
  return g;
}

Result<void> Gateway::start() {
  Impl& impl = *impl_;
  for (const auto& listener : impl.config.listeners) {
    const std::string where = listener.address.to_string();
    const unsigned n = listener.workers == 0 ? default_workers() : static_cast<unsigned>(listener.workers);
    try {
      tcp::resolver resolver(impl.control);
      const auto results = resolver.resolve(listener.address.host, std::to_string(listener.address.port),
                                            tcp::resolver::passive | tcp::resolver::numeric_service);
      if (results.empty()) return Error{EINVAL, fmt::format("cannot listen on {}: address does not resolve", where)};
      tcp::endpoint endpoint = results.begin()->endpoint();
      for (unsigned i = 0; i < n && i < impl.workers.size(); ++i) {
        endpoint = impl.workers[i]->listen(endpoint);  // the first bind fixes the port (port 0)
      }
      impl.urls.push_back(fmt::format("http://{}:{}", url_host(listener.address.host), endpoint.port()));
    } catch (const boost::system::system_error& e) {
      return Error{e.code().value(), fmt::format("cannot listen on {}: {}", where, e.code().message())};
    }
  }
  if (auto bound = impl.bind_admin(); !bound) return bound;
  if (!impl.discover_pools.empty()) {
    asio::co_spawn(impl.control, impl.discover_models(), asio::detached);
    impl.control.run();
    impl.control.restart();
  }
  // Only now: these run for as long as the gateway does, and the discovery above runs the control
  // loop until it has no work left.
  impl.scraper = std::make_unique<upstream::MetricsScraper>(impl.control, impl.shared.clock);
  impl.scraper->start(scrape_targets(*impl.shared.snapshot.load()));
  if (impl.admin_server) impl.admin_server->start();
  // Signals are caught from here on (before "ready"), so a SIGTERM right after start-up drains too.
  impl.signals.add(SIGINT);
  impl.signals.add(SIGTERM);
  impl.signals.async_wait([&impl](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("received signal {}", signal);
    impl.begin_shutdown();
  });
  impl.running = static_cast<unsigned>(impl.workers.size());
  for (auto& w : impl.workers) {
    Worker* worker = w.get();
    impl.threads.emplace_back([worker, &impl] {
      worker->run();
      asio::post(impl.control, [&impl] { impl.worker_finished(); });
    });
  }
  if (impl.options.announce != nullptr) {
    for (const auto& url : impl.urls) *impl.options.announce << "listening url=" << url << std::endl;
    if (impl.admin_server) *impl.options.announce << "admin url=" << impl.admin_url << std::endl;
    *impl.options.announce << "ready" << std::endl;
  }
  spdlog::info("kvroute ready: {} worker(s), {} pool(s), {} metrics endpoint(s) scraped", impl.workers.size(),
               impl.config.pools.size(), impl.scraper->size());
  if (impl.admin_server) spdlog::info("admin API on {}", impl.admin_url);
  return {};
}

const std::vector<std::string>& Gateway::listening_urls() const { return impl_->urls; }

int Gateway::run() {
  Impl& impl = *impl_;
  if (!impl.discover_pools.empty() && impl.options.models_refresh > 0) {
    asio::co_spawn(impl.control, impl.refresh_loop(), asio::detached);
  }
  impl.control.run();
  for (auto& t : impl.threads) {
    if (t.joinable()) t.join();
  }
  impl.threads.clear();
  const StatsTotals totals = stats();
  spdlog::info("stopped: {} requests, {} upstream connections opened, {} reused", totals.requests,
               totals.upstream_connects, totals.upstream_reuses);
  return 0;
}

void Gateway::request_shutdown() {
  Impl* impl = impl_.get();
  asio::post(impl->control, [impl] { impl->begin_shutdown(); });
}

StatsTotals Gateway::stats() const {
  StatsTotals t;
  for (const auto& w : impl_->workers) t.add(w->stats());
  return t;
}

Result<config::GatewayConfig> check_config_file(const std::string& path) {
  auto config = config::load_config_file(path);
  if (!config) return config.error();
  const auto registry = routing::PolicyRegistry::with_builtin_policies();
  if (auto checked = check_policies(*config, registry); !checked) return checked.error();
  return std::move(*config);
}

}  // namespace kvroute::proxy
