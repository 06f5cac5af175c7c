#include "sim_server/embeddings.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <utility>

#include "common/hash.h"
#include "openai/errors.h"
#include "sim/tokenizer.h"

namespace kvroute::sim_server {
namespace {

namespace dom = simdjson::dom;

// The base64 bytes are the host's float32 bytes: vLLM's are little-endian (numpy on x86/ARM).
static_assert(std::endian::native == std::endian::little, "embeddings: base64 output assumes a little-endian host");

// Domain seeds: a text and a token-id list never share a vector or a KV block identity by accident.
constexpr std::uint64_t kTextVectorSeed = 0x656d62642d747874ULL;
constexpr std::uint64_t kIdsVectorSeed = 0x656d62642d696473ULL;
constexpr std::uint64_t kIdsBlockSeed = 0x656d62642d626c6bULL;

std::string_view type_name(dom::element_type t) {
  switch (t) {
    case dom::element_type::ARRAY:
      return "an array";
    case dom::element_type::OBJECT:
      return "an object";
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE:
      return "a number";
    case dom::element_type::STRING:
      return "a string";
    case dom::element_type::BOOL:
      return "a boolean";
    case dom::element_type::NULL_VALUE:
      return "null";
  }
  return "an unknown value";
}

/// The value of a read whose type was checked before, so it cannot fail (default value if it did).
template <class T, class R>
T checked(R&& result) {
  T v{};
  if (std::forward<R>(result).get(v) != simdjson::SUCCESS) return T{};
  return v;
}

bool is_integer(dom::element_type t) { return t == dom::element_type::INT64 || t == dom::element_type::UINT64; }

// Message styles of the sim's completions parse (openai/request_view.cc), with the field as param.
RequestError type_error(std::string_view where, std::string_view param, std::string_view expected,
                        dom::element_type got) {
  return {400, fmt::format("Invalid type for '{}': expected {}, but got {} instead.", where, expected, type_name(got)),
          std::string(param)};
}

RequestError value_error(std::string_view where, std::string_view param, std::string_view what) {
  return {400, fmt::format("Invalid value for '{}': {}", where, what), std::string(param)};
}

std::string at(std::size_t i) { return fmt::format("input[{}]", i); }
std::string at(std::size_t i, std::size_t j) { return fmt::format("input[{}][{}]", i, j); }

EmbeddingInput text_input(std::string_view text, std::uint32_t block_size) {
  sim::PromptTokenizer tokenizer(block_size);
  tokenizer.append(text);
  EmbeddingInput in;
  in.tokens = tokenizer.tokens();
  in.block_hashes = std::move(tokenizer.block_hashes());
  in.seed = hash_string(text, kTextVectorSeed);
  return in;
}

/// One token-id list: every element a non-negative integer; `where(j)` names element j.
template <class Where>
std::optional<RequestError> ids_input(dom::array ids, std::uint32_t block_size, Where where, EmbeddingInput& in) {
  std::vector<std::uint64_t> values;
  values.reserve(ids.size());
  for (dom::element e : ids) {
    const dom::element_type t = e.type();
    if (!is_integer(t)) return type_error(where(values.size()), "input", "an integer", t);
    std::uint64_t v = 0;
    if (t == dom::element_type::INT64) {
      const auto signed_value = checked<std::int64_t>(e.get_int64());
      if (signed_value < 0) {
        return value_error(where(values.size()), "input", "token ids must be non-negative integers.");
      }
      v = static_cast<std::uint64_t>(signed_value);
    } else {
      v = checked<std::uint64_t>(e.get_uint64());
    }
    values.push_back(v);
  }
  in.tokens = static_cast<std::uint32_t>(values.size());
  in.seed = hash_bytes(values.data(), values.size() * sizeof(std::uint64_t), kIdsVectorSeed);
  // Full blocks of block_size ids, chained like text blocks (the ids' 8-byte little-endian form).
  ChainedBlockHasher hasher(std::size_t{block_size} * sizeof(std::uint64_t), kIdsBlockSeed);
  hasher.update(std::string_view(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(std::uint64_t)),
                [&in](std::uint64_t h) { in.block_hashes.push_back(h); });
  return std::nullopt;
}

std::optional<RequestError> parse_input(dom::element input, std::uint32_t block_size,
                                        std::vector<EmbeddingInput>& out) {
  const dom::element_type t = input.type();
  if (t == dom::element_type::STRING) {
    const auto s = checked<std::string_view>(input.get_string());
    if (s.empty()) return value_error("input", "input", "expected a non-empty string.");
    out.push_back(text_input(s, block_size));
    return std::nullopt;
  }
  if (t != dom::element_type::ARRAY) {
    return type_error("input", "input", "a string, an array of strings or an array of token ids", t);
  }
  const auto arr = checked<dom::array>(input.get_array());
  if (arr.size() == 0) return value_error("input", "input", "expected a non-empty array.");
  // The first element fixes the kind; a mixed array is a type error (as pydantic would refuse it).
  const auto first = checked<dom::element>(arr.at(0));
  const dom::element_type kind = first.type();
  if (is_integer(kind) || kind == dom::element_type::DOUBLE) {
    EmbeddingInput in;
    if (auto err = ids_input(
            arr, block_size, [](std::size_t j) { return at(j); }, in))
      return err;
    out.push_back(std::move(in));
    return std::nullopt;
  }
  if (kind != dom::element_type::STRING && kind != dom::element_type::ARRAY) {
    return type_error(at(0), "input", "a string, a token id or an array of token ids", kind);
  }
  out.reserve(arr.size());
  std::size_t i = 0;
  for (dom::element e : arr) {
    const dom::element_type et = e.type();
    if (et != kind) {
      return type_error(at(i), "input", kind == dom::element_type::STRING ? "a string" : "an array", et);
    }
    if (kind == dom::element_type::STRING) {
      const auto s = checked<std::string_view>(e.get_string());
      if (s.empty()) return value_error(at(i), "input", "expected a non-empty string.");
      out.push_back(text_input(s, block_size));
    } else {
      const auto ids = checked<dom::array>(e.get_array());
      if (ids.size() == 0) return value_error(at(i), "input", "expected a non-empty array of token ids.");
      EmbeddingInput in;
      if (auto err = ids_input(
              ids, block_size, [i](std::size_t j) { return at(i, j); }, in))
        return err;
      out.push_back(std::move(in));
    }
    ++i;
  }
  return std::nullopt;
}

void append_u64(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = fmt::format_to_n(buf, sizeof buf, "{}", v);
  out.append(buf, r.out);
}

}  // namespace

std::optional<RequestError> parse_embeddings_request(std::string_view body, std::uint32_t block_size,
                                                     EmbeddingsRequest& out) {
  dom::parser parser;
  dom::element doc;
  if (auto e = parser.parse(body.data(), body.size()).get(doc)) {
    return RequestError{400, fmt::format("Invalid JSON in request body: {}", simdjson::error_message(e)), {}};
  }
  dom::object root;
  if (doc.get_object().get(root)) return RequestError{400, "Invalid JSON in request body: expected an object.", {}};

  // Last value of each key wins, as with Python's json.loads.
  std::optional<dom::element> model, input, encoding, dimensions, user;
  for (dom::key_value_pair field : root) {
    if (field.key == "model") {
      model = field.value;
    } else if (field.key == "input") {
      input = field.value;
    } else if (field.key == "encoding_format") {
      encoding = field.value;
    } else if (field.key == "dimensions") {
      dimensions = field.value;
    } else if (field.key == "user") {
      user = field.value;
    }
  }
  auto present = [](const std::optional<dom::element>& v) { return v && !v->is_null(); };

  out = EmbeddingsRequest{};
  if (!present(model)) return RequestError{400, "Missing required parameter: 'model'.", "model"};
  std::string_view model_name;
  if (model->get_string().get(model_name)) return type_error("model", "model", "a string", model->type());
  out.model = std::string(model_name);

  if (!present(input)) return RequestError{400, "Missing required parameter: 'input'.", "input"};
  if (auto err = parse_input(*input, block_size, out.inputs)) return err;

  if (present(encoding)) {
    std::string_view format;
    if (encoding->get_string().get(format)) {
      return type_error("encoding_format", "encoding_format", "a string", encoding->type());
    }
    if (format == "base64") {
      out.encoding = EmbeddingEncoding::kBase64;
    } else if (format != "float") {
      return value_error("encoding_format", "encoding_format",
                         fmt::format("expected 'float' or 'base64', got '{}'.", format));
    }
  }
  if (present(dimensions)) {
    if (!is_integer(dimensions->type())) {
      return type_error("dimensions", "dimensions", "an integer", dimensions->type());
    }
    out.has_dimensions = true;
  }
  if (present(user) && !user->is_string()) return type_error("user", "user", "a string", user->type());
  return std::nullopt;
}

std::optional<RequestError> check_embeddings_request(const EmbeddingsRequest& request, std::string_view served,
                                                     std::uint32_t max_model_len) {
  if (request.has_dimensions) {
    // vLLM's PoolingParams.verify for a model whose config is not matryoshka; a plain 400, param null.
    return RequestError{400,
                        fmt::format("Model \"{}\" does not support matryoshka representation, changing output "
                                    "dimensions will lead to poor results.",
                                    served),
                        {}};
  }
  for (const EmbeddingInput& in : request.inputs) {
    // vLLM's EmbeddingMixin._validate_input: the input may fill the context, not exceed it.
    if (in.tokens > max_model_len) {
      return RequestError{400,
                          fmt::format("This model's maximum context length is {} tokens. However, you requested {} "
                                      "tokens in the input for embedding generation. Please reduce the length of "
                                      "the input.",
                                      max_model_len, in.tokens),
                          {}};
    }
  }
  return std::nullopt;
}

void embedding_vector(std::uint64_t seed, std::uint32_t dim, std::vector<float>& out) {
  out.resize(dim);
  if (dim == 0) return;
  // Two components per 64-bit hash, each a signed 32-bit value scaled to [-1, 1).
  double sum = 0;
  for (std::uint32_t k = 0; 2 * k < dim; ++k) {
    const std::uint64_t counter = k;
    const std::uint64_t h = hash_bytes(&counter, sizeof counter, seed);
    for (std::uint32_t half = 0; half < 2 && 2 * k + half < dim; ++half) {
      const auto bits = static_cast<std::int32_t>(static_cast<std::uint32_t>(h >> (32 * half)));
      const float x = static_cast<float>(bits) * 0x1.0p-31f;
      out[2 * k + half] = x;
      sum += static_cast<double>(x) * x;
    }
  }
  if (sum == 0) {  // every component exactly 0: practically impossible, but a unit vector still
    out[0] = 1.0f;
    return;
  }
  const double scale = 1.0 / std::sqrt(sum);
  for (float& x : out) x = static_cast<float>(x * scale);
}

void append_float_array(std::string& out, std::span<const float> v) {
  out += '[';
  char buf[40];
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += ',';
    // Shortest round trip of the widened double, as Python's repr (vLLM's tolist() yields doubles).
    const auto r = fmt::format_to_n(buf, sizeof buf, "{}", static_cast<double>(v[i]));
    const std::string_view s(buf, r.out);
    out += s;
    if (s.find_first_of(".e") == std::string_view::npos) out += ".0";  // Python writes 1.0, not 1
  }
  out += ']';
}

void append_base64_floats(std::string& out, std::span<const float> v) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = reinterpret_cast<const unsigned char*>(v.data());
  const std::size_t n = v.size_bytes();
  out.reserve(out.size() + (n + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const std::uint32_t w = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8) | p[i + 2];
    out += kAlphabet[(w >> 18) & 63];
    out += kAlphabet[(w >> 12) & 63];
    out += kAlphabet[(w >> 6) & 63];
    out += kAlphabet[w & 63];
  }
  if (const std::size_t rest = n - i; rest > 0) {
    const std::uint32_t w = (std::uint32_t{p[i]} << 16) | (rest == 2 ? std::uint32_t{p[i + 1]} << 8 : 0);
    out += kAlphabet[(w >> 18) & 63];
    out += kAlphabet[(w >> 12) & 63];
    out += rest == 2 ? kAlphabet[(w >> 6) & 63] : '=';
    out += '=';
  }
}

std::string make_embeddings_id(Random& random) {
  return fmt::format("embd-{:016x}{:016x}", random.next_u64(), random.next_u64());
}

void append_embeddings_body(std::string& out, std::string_view id, std::int64_t created, std::string_view model,
                            const EmbeddingsRequest& request, std::uint32_t dim, std::vector<float>& scratch) {
  std::uint64_t prompt_tokens = 0;
  out += "{\"id\":\"";
  out += id;
  out += "\",\"object\":\"list\",\"created\":";
  append_u64(out, static_cast<std::uint64_t>(created));
  out += ",\"model\":\"";
  openai::append_json_escaped(out, model);
  out += "\",\"data\":[";
  for (std::size_t i = 0; i < request.inputs.size(); ++i) {
    const EmbeddingInput& in = request.inputs[i];
    prompt_tokens += in.tokens;
    if (i > 0) out += ',';
    out += "{\"index\":";
    append_u64(out, i);
    out += ",\"object\":\"embedding\",\"embedding\":";
    embedding_vector(in.seed, dim, scratch);
    if (request.encoding == EmbeddingEncoding::kBase64) {
      out += '"';
      append_base64_floats(out, scratch);
      out += '"';
    } else {
      append_float_array(out, scratch);
    }
    out += '}';
  }
  out += "],\"usage\":{\"prompt_tokens\":";
  append_u64(out, prompt_tokens);
  out += ",\"total_tokens\":";
  append_u64(out, prompt_tokens);
  out += ",\"completion_tokens\":0,\"prompt_tokens_details\":null}}";
}

}  // namespace kvroute::sim_server
