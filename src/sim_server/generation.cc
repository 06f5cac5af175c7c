#include "sim_server/generation.h"

#include <algorithm>

#include <fmt/format.h>

namespace kvroute::sim_server {
namespace {

// Leading space included; the first token of a response drops it.
constexpr std::string_view kWords[Filler::kNumWords] = {
    " the",     " model",  " answers", " with",     " simulated", " tokens",  " that",     " arrive",
    " one",     " by",     " one",     " from",     " a",         " paged",   " cache",    " of",
    " blocks",  " while",  " the",     " batch",    " grows",     " and",     " shrinks",  " as",
    " requests", " come",  " and",     " go",       " each",      " step",    " takes",    " time",
    " in",      " line",   " with",    " its",      " shape",     " so",      " latency",  " follows",
    " load",    " prefix", " hits",    " save",     " work",      " queues",  " build",    " under",
    " pressure", " and",   " routing", " matters",  " more",      " than",    " it",       " seems",
    " when",    " many",   " users",   " share",    " long",      " system",  " prompts",  " here",
};

Error too_long(std::string_view param, std::int64_t value, std::uint32_t max_model_len, std::uint32_t prompt) {
  return Error{400, fmt::format("'{}' is too large: {}. This model's maximum context length is {} tokens and your "
                                "request has {} input tokens ({} > {} - {}).",
                                param, value, max_model_len, prompt, value, max_model_len, prompt)};
}

}  // namespace

std::string_view Filler::token(std::uint64_t seed, std::uint32_t index) {
  const std::string_view w = kWords[(seed + index) % kNumWords];
  return index == 0 ? w.substr(1) : w;
}

void Filler::append_text(std::string& out, std::uint64_t seed, std::uint32_t count) {
  for (std::uint32_t i = 0; i < count; ++i) out += token(seed, i);
}

Result<OutputPlan> plan_output(const openai::RequestFields& f, std::uint32_t prompt_tokens,
                               std::uint32_t max_model_len, std::uint64_t seed) {
  if (prompt_tokens >= max_model_len) {
    return Error{400, fmt::format("This model's maximum context length is {} tokens. However, your request has {} "
                                  "input tokens. Please reduce the length of the input messages.",
                                  max_model_len, prompt_tokens)};
  }
  const std::uint32_t remaining = max_model_len - prompt_tokens;
  if (f.max_tokens && *f.max_tokens < 1) {
    return Error{400, fmt::format("max_tokens must be at least 1, got {}.", *f.max_tokens)};
  }
  if (f.max_tokens && *f.max_tokens > remaining) {
    return too_long("max_tokens' or 'max_completion_tokens", *f.max_tokens, max_model_len, prompt_tokens);
  }
  OutputPlan plan;
  plan.max_tokens = f.max_tokens ? static_cast<std::uint32_t>(*f.max_tokens) : std::min(kDefaultMaxTokens, remaining);
  const std::uint32_t min_tokens = f.min_tokens ? static_cast<std::uint32_t>(std::max<std::int64_t>(0, *f.min_tokens)) : 0;
  if (f.min_tokens && *f.min_tokens > plan.max_tokens) {
    return Error{400, fmt::format("min_tokens must be less than or equal to max_tokens={}, got {}.", plan.max_tokens,
                                  *f.min_tokens)};
  }
  if (f.sim_output_tokens) {
    if (*f.sim_output_tokens < 1) {
      return Error{400, fmt::format("sim_output_tokens must be at least 1, got {}.", *f.sim_output_tokens)};
    }
    if (*f.sim_output_tokens > remaining) {
      return too_long("sim_output_tokens", *f.sim_output_tokens, max_model_len, prompt_tokens);
    }
    plan.output_tokens = static_cast<std::uint32_t>(*f.sim_output_tokens);
    plan.finish = f.max_tokens && plan.output_tokens == plan.max_tokens ? FinishReason::kLength : FinishReason::kStop;
    return plan;
  }
  if (f.ignore_eos) {
    plan.output_tokens = plan.max_tokens;
    plan.finish = FinishReason::kLength;
    return plan;
  }
  const std::uint32_t natural = std::max<std::uint32_t>(min_tokens, 16 + static_cast<std::uint32_t>(seed % 240));
  if (natural < plan.max_tokens) {
    plan.output_tokens = natural;
    plan.finish = FinishReason::kStop;
  } else {
    plan.output_tokens = plan.max_tokens;
    plan.finish = FinishReason::kLength;
  }
  return plan;
}

}  // namespace kvroute::sim_server
