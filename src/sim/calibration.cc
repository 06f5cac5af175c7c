// Calibration: drive the engine through the standard single-request and batch workloads in
// virtual time, and compare with a closed-form evaluation written here independently of the
// engine's StepShape accounting and of cost_model.cc, so a bookkeeping error in either shows up as
// a ratio away from 1. The third column is the figure SIMULATOR-FACTS.md gives (section 7.3 table,
// section 7.3 worked decode example, section 7.4 chunk time).

#include "sim/calibration.h"

#include <algorithm>
#include <cstdio>
#include <string_view>

#include "sim/engine.h"

namespace kvroute::sim {
namespace {

// Figures from SIMULATOR-FACTS.md section 7.3 (table "Presets") per preset.
struct Reference {
  std::string_view preset;
  double kv_budget_gib;               // "KV budget / GPU"
  double kv_bytes_per_token_per_gpu;  // section 7.1: 128 KiB (8B), 320 KiB / TP (70B)
  const char* kv_tokens_text;         // "KV tokens"
  double kv_tokens;
  const char* itl_text;        // "low-batch ITL"
  double itl_ms;               // midpoint
  const char* prefill4k_text;  // "prefill, 4k prompt alone"
  double prefill4k_ms;
};

constexpr Reference kReferences[] = {
    {"L8B-H100", 53.7, 131072, "~440 k", 440e3, "7.5-8.5", 8.0, "~97", 97},
    {"L8B-H200", 108, 131072, "~890 k", 890e3, "5.5-6.5", 6.0, "~97", 97},
    {"L70B-H100-TP4", 34.8, 327680.0 / 4, "~456 k", 456e3, "22-25", 23.5, "~295", 295},
    {"L70B-H100-TP8", 51.2, 327680.0 / 8, "~1.34 M", 1.34e6, "15-18", 16.5, "~193", 193},
    {"L70B-H200-TP4", 89.5, 327680.0 / 4, "~1.17 M", 1.17e6, "17-20", 18.5, "~290", 290},
};

const Reference* find_reference(std::string_view preset) {
  for (const Reference& r : kReferences) {
    if (r.preset == preset) return &r;
  }
  return nullptr;
}

// ---- Closed form: the section 7.2 formula, term by term. ----

double tp_seconds(const Preset& p, double tokens) {
  if (p.tensor_parallel <= 1) return 0;
  return 2.0 * p.layers * (p.allreduce_latency + tokens * p.allreduce_bytes_per_token / p.allreduce_bandwidth);
}

/// A prompt alone on an idle engine: chunks of max_num_batched_tokens, each chunk n on prefix p costs
/// t_ovh + max(t_w, n c_tok) + c_attention n (p + n/2) + t_TP(n). Nothing decodes meanwhile.
double closed_form_ttft(const Preset& p, std::uint32_t prompt) {
  double total = 0;
  for (std::uint32_t done = 0; done < prompt;) {
    const double n = std::min(p.max_num_batched_tokens, prompt - done);
    total +=
        p.t_overhead + std::max(p.t_weights, n * p.c_token) + p.c_attention * n * (done + n / 2) + tp_seconds(p, n);
    done += static_cast<std::uint32_t>(n);
  }
  return total;
}

/// One decode step of `batch` sequences at `context` tokens each.
double closed_form_decode(const Preset& p, std::uint32_t batch, std::uint32_t context) {
  const double b = batch;
  return p.t_overhead + std::max(p.t_weights, b * p.c_token) + b * context * p.c_kv + tp_seconds(p, b);
}

// ---- Measurements: the engine in virtual time. ----

bool fits(const Preset& p, std::uint32_t batch, std::uint32_t tokens_each) {
  const std::uint64_t blocks_each = (tokens_each + p.block_size - 1) / p.block_size;
  return tokens_each <= p.max_model_len && batch <= p.max_num_seqs &&
         batch * blocks_each <= std::uint64_t{p.num_gpu_blocks} - 1;
}

/// Time from adding one prompt to an idle engine to the end of the step that produces its first token.
std::optional<double> measure_ttft(const Preset& p, std::uint32_t prompt) {
  if (!fits(p, 1, prompt + 1)) return std::nullopt;
  Engine engine(EngineConfig{p});
  engine.add_request(EngineRequest{1, prompt, {}, 1});
  Nanos now = 0;
  while (auto end = engine.step(now)) {
    now = *end;
    for (const EngineEvent& e : engine.events()) {
      if (e.kind == EventKind::kToken) return nanos_to_seconds(now);
    }
  }
  return std::nullopt;
}

/// Mean step time over kMeasuredSteps decode steps, once all `batch` requests are decoding.
std::optional<double> measure_decode(const Preset& p, std::uint32_t batch, std::uint32_t prompt) {
  constexpr std::uint32_t kMeasuredSteps = 8;
  constexpr std::uint32_t kOutput = 128;  // longer than the prefill phase plus the measured steps
  if (!fits(p, batch, prompt + kOutput)) return std::nullopt;
  Engine engine(EngineConfig{p});
  for (std::uint32_t i = 0; i < batch; ++i) engine.add_request(EngineRequest{i, prompt, {}, kOutput});
  Nanos now = 0;
  std::uint32_t decoding = 0;
  while (decoding < batch) {
    auto end = engine.step(now);
    if (!end) return std::nullopt;
    now = *end;
    for (const EngineEvent& e : engine.events()) {
      if (e.kind == EventKind::kPreempted) return std::nullopt;  // not a clean measurement
      if (e.kind == EventKind::kToken && e.output_index == 0) ++decoding;
    }
  }
  const Nanos start = now;
  for (std::uint32_t i = 0; i < kMeasuredSteps; ++i) {
    auto end = engine.step(now);
    if (!end || engine.last_step_shape().num_prefills != 0) return std::nullopt;
    now = *end;
  }
  return nanos_to_seconds(now - start) / kMeasuredSteps;
}

CalibrationRow ms_row(const Preset& p, std::string quantity, std::optional<double> measured_s, double closed_s) {
  CalibrationRow row;
  row.preset = p.name;
  row.quantity = std::move(quantity);
  row.unit = "ms";
  if (measured_s) {
    row.measured = *measured_s * 1e3;
    row.closed_form = closed_s * 1e3;
  } else {
    row.note = "does not fit this preset (max_model_len, max_num_seqs or KV)";
  }
  return row;
}

std::string format_value(double v, std::string_view unit) {
  char buf[64];
  if (unit == "tokens") {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f", v);
  }
  return buf;
}

std::string format_ratio(std::optional<double> a, std::optional<double> b) {
  if (!a || !b || *b == 0) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", *a / *b);
  return buf;
}

}  // namespace

std::vector<CalibrationRow> calibrate(const Preset& p) {
  const Reference* ref = find_reference(p.name);
  std::vector<CalibrationRow> rows;

  for (const std::uint32_t prompt : {1024u, 4096u, 8192u, 32768u}) {
    CalibrationRow row = ms_row(p, "TTFT, " + std::to_string(prompt / 1024) + "k-token prompt alone",
                                measure_ttft(p, prompt), closed_form_ttft(p, prompt));
    if (ref && prompt == 4096) {
      row.facts = ref->prefill4k_text;
      row.facts_value = ref->prefill4k_ms;
      row.note = "7.3 'prefill, 4k prompt alone'";
    }
    if (p.name == "L8B-H100" && prompt == 8192) {
      row.facts = "180-200";
      row.facts_value = 190;
      row.note = "7.4: one 8192-token chunk";
    }
    rows.push_back(std::move(row));
  }

  struct DecodeCase {
    std::uint32_t batch;
    std::uint32_t prompt;
  };
  for (const DecodeCase c : {DecodeCase{1, 1024}, DecodeCase{32, 1024}, DecodeCase{128, 1024}, DecodeCase{64, 2048}}) {
    CalibrationRow row = ms_row(
        p,
        "decode step (ITL), batch " + std::to_string(c.batch) + " at " + std::to_string(c.prompt / 1024) + "k context",
        measure_decode(p, c.batch, c.prompt), closed_form_decode(p, c.batch, c.prompt));
    if (ref && c.batch == 1) {
      row.facts = ref->itl_text;
      row.facts_value = ref->itl_ms;
      row.note = "7.3 'low-batch ITL'";
    }
    if (p.name == "L8B-H100" && c.batch == 64) {
      row.facts = "~14.7";
      row.facts_value = 14.7;
      row.note = "7.3 worked decode example";
    }
    rows.push_back(std::move(row));
  }

  CalibrationRow kv;
  kv.preset = p.name;
  kv.quantity = "KV capacity";
  kv.unit = "tokens";
  {
    const Engine engine(EngineConfig{p});
    kv.measured = static_cast<double>(engine.stats().free_blocks) * p.block_size;
  }
  if (ref) {
    kv.closed_form = ref->kv_budget_gib * 1024.0 * 1024.0 * 1024.0 / ref->kv_bytes_per_token_per_gpu;
    kv.facts = ref->kv_tokens_text;
    kv.facts_value = ref->kv_tokens;
    kv.note = "closed form: KV budget / KV bytes per token per GPU (7.3)";
  } else {
    kv.closed_form = static_cast<double>(p.kv_capacity_tokens());
    kv.note = "closed form: num_gpu_blocks x block_size";
  }
  rows.push_back(std::move(kv));
  return rows;
}

std::string calibration_markdown(std::span<const Preset> presets) {
  std::string out =
      "Engine: measured by the simulator in virtual time. Closed form: the section 7.2 formula evaluated\n"
      "directly. Facts: SIMULATOR-FACTS.md. Times in ms; the engine's usable KV excludes the null block.\n\n"
      "| Preset | Quantity | Engine | Closed form | Engine / closed | Facts | Engine / facts | Note |\n"
      "|---|---|---:|---:|---:|---:|---:|---|\n";
  for (const Preset& p : presets) {
    for (const CalibrationRow& r : calibrate(p)) {
      out += "| " + r.preset + " | " + r.quantity + " | ";
      out += (r.measured ? format_value(*r.measured, r.unit) : std::string("n/a")) + " | ";
      out += (r.closed_form ? format_value(*r.closed_form, r.unit) : std::string("")) + " | ";
      out += format_ratio(r.measured, r.closed_form) + " | ";
      out += r.facts + " | ";
      out += format_ratio(r.measured, r.facts_value) + " | ";
      out += r.note + " |\n";
    }
  }
  return out;
}

}  // namespace kvroute::sim
