#pragma once
// A backend's usage report as the dispatch accounting takes it. The backend says how much of the
// prompt it found in its prefix cache (OpenAI usage prompt_tokens_details.cached_tokens; vLLM with
// --enable-prompt-tokens-details, kvroute-sim always); DispatchAccounting compares that with what the
// prefix index predicted and corrects the index when the backend holds less (routing/prefix_index.h).

#include <optional>

#include "openai/sse.h"
#include "routing/dispatch_accounting.h"

namespace kvroute::proxy {

/// The prompt figures of a usage report: prompt_tokens when reported (openai::parse_usage reads a
/// missing counter as 0, and no prompt is empty, so 0 means "not reported"), cached_tokens when
/// reported, clamped to [0, prompt_tokens]. Empty for no report. Pure; any thread.
routing::PromptUsage prompt_usage_of(const std::optional<openai::Usage>& usage);

}  // namespace kvroute::proxy
