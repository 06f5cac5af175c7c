#include "proxy/prompt_usage.h"

#include <algorithm>
#include <cstdint>

namespace kvroute::proxy {

routing::PromptUsage prompt_usage_of(const std::optional<openai::Usage>& usage) {
  routing::PromptUsage out;
  if (!usage) return out;
  constexpr std::int64_t kMax = UINT32_MAX;
  if (usage->prompt_tokens > 0) out.prompt_tokens = static_cast<std::uint32_t>(std::min(usage->prompt_tokens, kMax));
  if (usage->cached_tokens) {
    const std::int64_t limit = out.prompt_tokens ? std::int64_t{*out.prompt_tokens} : kMax;
    out.cached_tokens = static_cast<std::uint32_t>(std::clamp<std::int64_t>(*usage->cached_tokens, 0, limit));
  }
  return out;
}

}  // namespace kvroute::proxy
