#include "sim_server/instance.h"

#include <chrono>
#include <ctime>
#include <exception>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "openai/errors.h"
#include "sim_server/fault_json.h"
#include "sim_server/session.h"

namespace kvroute::sim_server {
namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

double seconds(Nanos n) { return n > 0 ? nanos_to_seconds(n) : 0.0; }

// An embeddings input may fill the whole context (vLLM checks input <= max_model_len for pooling)
// and enters the engine as a prompt with one stand-in output token, which the engine's own limit
// (prompt + output <= max_model_len) would refuse. Sessions check every request against the real
// limit before submitting it, so the engine's check gets the one token of slack; the stand-in
// token is sampled at the end of the prefill and never stored in the KV cache.
sim::EngineConfig engine_config(const InstanceConfig& c) {
  sim::EngineConfig e{c.preset, c.speed_factor, true};
  e.preset.max_model_len += 1;
  return e;
}

// Completion of a detached coroutine: a failure is logged, never silently swallowed.
struct LogFailure {
  std::string what;
  void operator()(const std::exception_ptr& e) const {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("{}: {}", what, ex.what());
    } catch (...) {
      spdlog::error("{}: unknown exception", what);
    }
  }
};

}  // namespace

Instance::Instance(InstanceConfig config, Worker& worker, const RealClock& clock)
    : config_(std::move(config)),
      worker_(worker),
      clock_(clock),
      engine_(engine_config(config_)),
      faults_(config_.faults),
      fault_random_(derive_seed(config_.seed, 2 * std::uint64_t{config_.index})),
      id_random_(derive_seed(config_.seed, 2 * std::uint64_t{config_.index} + 1)),
      metrics_(config_.model, config_.preset),
      acceptor_(worker.ioc),
      engine_timer_(worker.ioc) {}

Instance::~Instance() = default;

void Instance::listen() {
  acceptor_.open(endpoint_.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint_);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

void Instance::open() {
  tcp::resolver resolver(worker_.ioc);
  auto results = resolver.resolve(config_.host, std::to_string(config_.port),
                                  tcp::resolver::numeric_service | tcp::resolver::passive);
  endpoint_ = results.begin()->endpoint();
  listen();
  endpoint_ = acceptor_.local_endpoint();
  port_ = endpoint_.port();
  authority_ = endpoint_.address().is_v6() ? fmt::format("[{}]:{}", config_.host, port_)
                                           : fmt::format("{}:{}", config_.host, port_);
  if (!faults_.listener_open()) acceptor_.close();
}

void Instance::start() {
  started_ = true;
  asio::co_spawn(executor(), engine_loop(), LogFailure{"engine loop of " + authority_});
  if (acceptor_.is_open()) asio::co_spawn(executor(), accept_loop(), LogFailure{"listener of " + authority_});
}

void Instance::request_stop() {
  asio::post(executor(), [this] { stop_now(); });
}

void Instance::stop_now() {
  stopping_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  engine_timer_.cancel();
  for (Session* s : sessions_) s->shutdown();
}

asio::awaitable<void> Instance::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(kAwait);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open() || stopping_) co_return;
      // Out of descriptors or similar: back off a little instead of spinning.
      spdlog::warn("{}: accept failed: {}", authority_, ec.message());
      asio::steady_timer pause(executor());
      pause.expires_after(std::chrono::milliseconds(10));
      co_await pause.async_wait(kAwait);
      continue;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto session = std::make_shared<Session>(*this, std::move(socket));
    asio::co_spawn(executor(), session->run(), LogFailure{"session on " + authority_});
  }
}

void Instance::wake_engine() {
  if (engine_parked_) engine_timer_.cancel();
}

asio::awaitable<void> Instance::engine_loop() {
  Nanos previous_end = -1;  // end of the last step while the engine stayed busy
  while (!stopping_) {
    if (engine_.idle()) {
      previous_end = -1;
      engine_parked_ = true;
      engine_timer_.expires_at(std::chrono::steady_clock::time_point::max());
      co_await engine_timer_.async_wait(kAwait);
      engine_parked_ = false;
      continue;
    }
    const Nanos now = clock_.now();
    const Nanos start = previous_end >= 0 && now - previous_end <= kMaxLag ? previous_end : now;
    const std::optional<Nanos> end = engine_.step(start);
    if (!end) {  // nothing runnable although not idle: wait for a change rather than spin
      previous_end = -1;
      engine_parked_ = true;
      engine_timer_.expires_after(std::chrono::milliseconds(1));
      co_await engine_timer_.async_wait(kAwait);
      engine_parked_ = false;
      continue;
    }
    metrics_.iteration_tokens.observe(engine_.last_step_shape().scheduled_tokens);
    if (pooling_in_engine_ > 0) count_pooling_outputs();
    engine_timer_.expires_at(clock_.epoch() + std::chrono::nanoseconds(*end));
    co_await engine_timer_.async_wait(kAwait);
    if (stopping_) break;
    deliver(*end);
    previous_end = *end;
  }
}

RequestState* Instance::lookup(sim::RequestId id) {
  const auto slot = static_cast<std::uint32_t>(id & 0xffffffffu);
  if (slot >= slots_.size()) return nullptr;
  RequestState* st = slots_[slot].get();
  return st->engine_id == id && st->in_engine ? st : nullptr;
}

void Instance::count_pooling_outputs() {
  // At step time, when the engine counts its generation tokens, so that the adjusted counter
  // never runs ahead of the engine's and then back (a Prometheus counter must not go down).
  for (const sim::EngineEvent& e : engine_.events()) {
    if (e.kind != sim::EventKind::kToken) continue;
    const RequestState* st = lookup(e.id);
    if (st != nullptr && st->pooling) ++pooling_outputs_;
  }
}

void Instance::leave_engine(RequestState& st) {
  st.in_engine = false;
  if (st.pooling) --pooling_in_engine_;
}

void Instance::deliver(Nanos step_end) {
  delivering_ = true;
  for (const sim::EngineEvent& e : engine_.events()) {
    if (e.kind != sim::EventKind::kToken) continue;
    RequestState* st = lookup(e.id);
    if (st == nullptr || e.output_index < st->tokens_ready) continue;
    if (!st->info_known) {
      // Still answered for a request that finished in this step (engine.h).
      if (auto info = engine_.request_info(e.id)) {
        st->cached_tokens = info->cached_tokens;
        st->first_scheduled = info->first_scheduled.value_or(st->arrival);
      } else {
        st->first_scheduled = st->arrival;
      }
      st->info_known = true;
    }
    if (e.output_index == 0) {
      st->first_token = step_end;
      metrics_.ttft.observe(seconds(step_end - st->arrival));
    } else {
      const double gap = seconds(step_end - st->last_token);
      metrics_.tpot.observe(gap);
      metrics_.itl.observe(gap);
    }
    st->last_token = step_end;
    st->token_end.push_back(step_end);
    st->tokens_ready = e.output_index + 1;
    if (e.finished) {
      st->finished = true;
      leave_engine(*st);
      request_completed(*st, step_end);
    }
    st->session->on_progress();
  }
  delivering_ = false;
  for (sim::RequestId id : deferred_aborts_) engine_.abort(id);
  deferred_aborts_.clear();
}

void Instance::request_completed(RequestState& st, Nanos end) {
  if (st.pooling) {
    // vLLM V1's logger for a pooling request: finished "stop", no generation tokens, no max_tokens
    // parameter; its prefill ends at the first (only) output, so decode time is 0.
    metrics_.request_finished(FinishReason::kStop);
    metrics_.e2e.observe(seconds(end - st.arrival));
    metrics_.queue_time.observe(seconds(st.first_scheduled - st.arrival));
    metrics_.prefill_time.observe(seconds(st.first_token - st.first_scheduled));
    metrics_.decode_time.observe(0.0);
    metrics_.inference_time.observe(seconds(end - st.first_scheduled));
    metrics_.prompt_tokens.observe(st.prompt_tokens);
    metrics_.generation_tokens.observe(0);
    return;
  }
  metrics_.request_finished(st.plan.finish);
  metrics_.e2e.observe(seconds(end - st.arrival));
  metrics_.queue_time.observe(seconds(st.first_scheduled - st.arrival));
  metrics_.prefill_time.observe(seconds(st.first_token - st.first_scheduled));
  metrics_.decode_time.observe(seconds(end - st.first_token));
  metrics_.inference_time.observe(seconds(end - st.first_scheduled));
  metrics_.prompt_tokens.observe(st.prompt_tokens);
  metrics_.generation_tokens.observe(st.plan.output_tokens);
  metrics_.max_tokens_param.observe(st.plan.max_tokens);
}

RequestState* Instance::submit(Submission&& sub, Session& session) {
  std::uint32_t slot;
  if (free_slots_.empty()) {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.push_back(std::make_unique<RequestState>());
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
  }
  RequestState& st = *slots_[slot];
  ++generation_;
  st.engine_id = (std::uint64_t{generation_} << 32) | slot;
  st.slot = slot;
  st.session = &session;
  st.api = sub.api;
  st.pooling = sub.pooling;
  st.stream = sub.stream;
  st.include_usage = sub.include_usage;
  st.continuous_usage = sub.include_usage && sub.continuous_usage;
  st.prompt_tokens = sub.prompt_tokens;
  st.plan = sub.plan;
  st.text_seed = sub.text_seed;
  st.close_after_tokens = sub.fault.close_after_tokens;
  st.token_delay_ms = sub.fault.token_delay_ms;
  // An embeddings request has one id for all its inputs, drawn by the session.
  if (st.pooling) {
    st.response_id.clear();
  } else {
    st.response_id = make_response_id(sub.api, id_random_);
  }
  st.created = static_cast<std::int64_t>(std::time(nullptr));
  if (st.stream) st.chunks.reset(st.api, st.response_id, st.created, config_.model);
  st.tokens_ready = 0;
  st.token_end.clear();
  st.token_end.reserve(st.plan.output_tokens);
  st.finished = false;
  st.info_known = false;
  st.cached_tokens = 0;
  st.arrival = clock_.now();
  st.first_scheduled = st.first_token = st.last_token = st.arrival;

  sim::EngineRequest er;
  er.id = st.engine_id;
  er.prompt_tokens = sub.prompt_tokens;
  er.block_hashes = std::move(sub.block_hashes);
  er.output_tokens = sub.plan.output_tokens;
  if (!engine_.add_request(std::move(er))) {
    st.session = nullptr;
    free_slots_.push_back(slot);
    return nullptr;
  }
  st.in_engine = true;
  if (st.pooling) ++pooling_in_engine_;
  wake_engine();
  return &st;
}

void Instance::abort(RequestState& st) {
  if (!st.in_engine) return;
  leave_engine(st);
  metrics_.request_finished(FinishReason::kAbort);
  if (delivering_) {
    deferred_aborts_.push_back(st.engine_id);  // the engine's event list is being walked
  } else {
    engine_.abort(st.engine_id);
  }
}

void Instance::release(RequestState& st) {
  abort(st);
  st.session = nullptr;
  free_slots_.push_back(st.slot);
}

void Instance::record_lateness(Nanos lateness) {
  if (lateness < 0) lateness = 0;
  lateness_.record(static_cast<std::uint64_t>(lateness / kNanosPerMicro));
  metrics_.token_lateness.observe(nanos_to_seconds(lateness));
}

sim::EngineStats Instance::engine_stats() const {
  sim::EngineStats s = engine_.stats();
  s.generation_tokens -= pooling_outputs_;
  return s;
}

void Instance::render_metrics(std::string& out) const { metrics_.render(out, engine_stats()); }

std::string Instance::sync_listener() {
  const bool want = faults_.listener_open() && !stopping_;
  if (want == acceptor_.is_open()) return {};
  boost::system::error_code ec;
  if (!want) {
    acceptor_.close(ec);
    return {};
  }
  try {
    listen();
  } catch (const std::exception& e) {
    acceptor_.close(ec);
    spdlog::error("{}: cannot reopen the listener: {}", authority_, e.what());
    return fmt::format("cannot reopen the listener on {}: {}", authority_, e.what());
  }
  if (started_) asio::co_spawn(executor(), accept_loop(), LogFailure{"listener of " + authority_});
  return {};
}

ControlReply Instance::control(std::string_view method, std::string_view path, std::string_view body) {
  const bool get = method == "GET";
  const bool post = method == "POST";
  auto method_error = [&](std::string_view allowed) {
    return ControlReply{405, openai::error_body(405, fmt::format("Method {} not allowed on {} (use {}).", method,
                                                                 path, allowed))};
  };
  if (path == "/sim/faults") {
    if (get) return {200, fault_settings_json(faults_.settings())};
    if (!post) return method_error("GET or POST");
    auto patch = parse_fault_patch(body);
    if (!patch) return {400, openai::error_body(400, patch.error().message)};
    if (auto ok = faults_.apply(*patch); !ok) return {400, openai::error_body(400, ok.error().message)};
    if (auto err = sync_listener(); !err.empty()) return {500, openai::error_body(500, err)};
    return {200, fault_settings_json(faults_.settings())};
  }
  if (path == "/sim/faults/clear") {
    if (!post) return method_error("POST");
    faults_.clear();
    if (auto err = sync_listener(); !err.empty()) return {500, openai::error_body(500, err)};
    return {200, fault_settings_json(faults_.settings())};
  }
  if (path == "/sim/stats" || path == "/sim/stats/reset") {
    if (path == "/sim/stats/reset") {
      if (!post) return method_error("POST");
      lateness_.reset();
    } else if (!get) {
      return method_error("GET");
    }
    const sim::EngineStats s = engine_stats();
    std::string out;
    out.reserve(512);
    out += "{\"instance\":\"";
    openai::append_json_escaped(out, authority_);
    out += "\",\"index\":";
    out += std::to_string(config_.index);
    out += ",\"preset\":\"";
    openai::append_json_escaped(out, config_.preset.name);
    out += "\",\"model\":\"";
    openai::append_json_escaped(out, config_.model);
    fmt::format_to(std::back_inserter(out),
                   "\",\"engine\":{{\"running\":{},\"waiting\":{},\"kv_cache_usage\":{},\"prefix_cache_queries\":{},"
                   "\"prefix_cache_hits\":{},\"preemptions\":{},\"steps\":{},\"prompt_tokens\":{},"
                   "\"generation_tokens\":{}}},\"token_lateness\":",
                   s.num_running, s.num_waiting, s.kv_cache_usage, s.prefix_cache_queries, s.prefix_cache_hits,
                   s.num_preemptions, s.steps, s.prompt_tokens, s.generation_tokens);
    lateness_.append_json(out);
    out += '}';
    return {200, std::move(out)};
  }
  return {404, openai::error_body(404, fmt::format("Not Found: {}", path))};
}

}  // namespace kvroute::sim_server
