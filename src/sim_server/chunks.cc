#include "sim_server/chunks.h"

#include <fmt/format.h>

#include "openai/errors.h"
#include "sim_server/generation.h"

namespace kvroute::sim_server {
namespace {

void append_u32(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = fmt::format_to_n(buf, sizeof buf, "{}", v);
  out.append(buf, r.out);
}

void append_finish(std::string& out, std::string_view finish_reason) {
  if (finish_reason.empty()) {
    out += "\"finish_reason\":null";
  } else {
    out += "\"finish_reason\":\"";
    out += finish_reason;
    out += "\",\"stop_reason\":null";
  }
}

void append_close(std::string& out, const UsageCounts* usage) {
  out += "}]";
  if (usage) {
    out += ",\"usage\":";
    append_usage_json(out, *usage, false);
  }
  out += "}\n\n";
}

}  // namespace

void append_usage_json(std::string& out, const UsageCounts& u, bool with_details) {
  out += "{\"prompt_tokens\":";
  append_u32(out, u.prompt_tokens);
  out += ",\"total_tokens\":";
  append_u32(out, std::uint64_t{u.prompt_tokens} + u.completion_tokens);
  out += ",\"completion_tokens\":";
  append_u32(out, u.completion_tokens);
  if (with_details) {
    out += ",\"prompt_tokens_details\":{\"cached_tokens\":";
    append_u32(out, u.cached_tokens);
    out += '}';
  }
  out += '}';
}

std::string make_response_id(Api api, Random& random) {
  return fmt::format("{}{:016x}{:016x}", api == Api::kChat ? "chatcmpl-" : "cmpl-", random.next_u64(),
                     random.next_u64());
}

void ChunkFormatter::reset(Api api, std::string_view id, std::int64_t created, std::string_view model) {
  api_ = api;
  head_.clear();
  head_ += "data: {\"id\":\"";
  head_ += id;
  head_ += api == Api::kChat ? "\",\"object\":\"chat.completion.chunk\",\"created\":"
                             : "\",\"object\":\"text_completion\",\"created\":";
  append_u32(head_, static_cast<std::uint64_t>(created));
  head_ += ",\"model\":\"";
  openai::append_json_escaped(head_, model);
  head_ += "\",\"choices\":[";
}

void ChunkFormatter::append_role_event(std::string& out, const UsageCounts* usage) const {
  out += head_;
  out += "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null";
  append_close(out, usage);
}

void ChunkFormatter::append_token_event(std::string& out, std::string_view text, std::string_view finish_reason,
                                        const UsageCounts* usage) const {
  out += head_;
  if (api_ == Api::kChat) {
    out += "{\"index\":0,\"delta\":{\"content\":\"";
    out += text;
    out += "\"},\"logprobs\":null,";
    append_finish(out, finish_reason);
  } else {
    out += "{\"index\":0,\"text\":\"";
    out += text;
    out += "\",\"logprobs\":null,";
    if (finish_reason.empty()) {
      out += "\"finish_reason\":null,\"stop_reason\":null";
    } else {
      append_finish(out, finish_reason);
    }
  }
  append_close(out, usage);
}

void ChunkFormatter::append_usage_event(std::string& out, const UsageCounts& usage) const {
  out += head_;
  out += "],\"usage\":";
  append_usage_json(out, usage, true);
  out += "}\n\n";
}

void append_response_body(std::string& out, Api api, std::string_view id, std::int64_t created,
                          std::string_view model, std::uint64_t text_seed, std::uint32_t completion_tokens,
                          std::string_view finish_reason, const UsageCounts& usage) {
  out += "{\"id\":\"";
  out += id;
  out += api == Api::kChat ? "\",\"object\":\"chat.completion\",\"created\":" : "\",\"object\":\"text_completion\",\"created\":";
  append_u32(out, static_cast<std::uint64_t>(created));
  out += ",\"model\":\"";
  openai::append_json_escaped(out, model);
  out += "\",\"choices\":[{\"index\":0,";
  if (api == Api::kChat) {
    out += "\"message\":{\"role\":\"assistant\",\"content\":\"";
    Filler::append_text(out, text_seed, completion_tokens);
    out += "\",\"tool_calls\":[]},\"logprobs\":null,";
  } else {
    out += "\"text\":\"";
    Filler::append_text(out, text_seed, completion_tokens);
    out += "\",\"logprobs\":null,";
  }
  append_finish(out, finish_reason);
  if (api == Api::kCompletion) out += ",\"prompt_logprobs\":null";
  out += "}],\"usage\":";
  append_usage_json(out, usage, true);
  if (api == Api::kChat) out += ",\"prompt_logprobs\":null";
  out += "}";
}

}  // namespace kvroute::sim_server
