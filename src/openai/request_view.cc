// RequestParser: one forward pass of simdjson's on-demand API over the top-level object.
//
// Why on-demand and a single pass: a request body is read once, in document order, and most of
// it (sampling parameters, tools, response_format ...) is of no interest to the gateway. Fields
// we do not read are skipped structurally, never materialised. The prompt is streamed to the
// PromptSink as it is met, so prefix hashing needs no joined copy of the prompt.
//
// What is validated: the JSON structure as far as simdjson's stage 1 and the walk see it (an
// unknown field's value is skipped by bracket depth, so garbage *inside* a value we never read,
// e.g. {"tools":[tru]}, is not reported here: the backend will report it), plus the type and
// range of every field we read. Every error is an HTTP 400 with a message naming the field.
//
// Lifetime: unescaped strings (model, user, message text) live in the simdjson parser's string
// buffer, and raw ones point into the body or into our padded copy; both are reused by the next
// parse(), which is why RequestFields' views are valid only until then.

#include "openai/request_view.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string>
#include <vector>

namespace kvroute::openai {

namespace od = simdjson::ondemand;

Endpoint endpoint_for_path(std::string_view path) {
  if (const auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  if (path == "/v1/chat/completions") return Endpoint::kChatCompletions;
  if (path == "/v1/completions") return Endpoint::kCompletions;
  if (path == "/v1/embeddings") return Endpoint::kEmbeddings;
  return Endpoint::kOther;
}

std::size_t required_padding() { return simdjson::SIMDJSON_PADDING; }

namespace {

std::string_view type_name(od::json_type t) {
  switch (t) {
    case od::json_type::array: return "an array";
    case od::json_type::object: return "an object";
    case od::json_type::number: return "a number";
    case od::json_type::string: return "a string";
    case od::json_type::boolean: return "a boolean";
    case od::json_type::null: return "null";
  }
  return "an unknown value";
}

Error json_error(simdjson::error_code code) {
  std::string message = "Invalid JSON in request body: ";
  message += simdjson::error_message(code);
  return Error{400, std::move(message)};
}

/// A field's name for error messages, e.g. messages[2].content[0].text or prompt[1][4]. Kept as
/// parts and written out only when an error needs it: the success path must not allocate.
struct Param {
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  Param(const char* b) : base(b) {}       // NOLINT: implicit, so plain names read naturally
  Param(std::string_view b) : base(b) {}  // NOLINT
  Param(std::string_view b, std::size_t i_, std::string_view m = {}, std::size_t k_ = kNone,
        std::string_view l = {})
      : base(b), i(i_), mid(m), k(k_), leaf(l) {}

  std::string_view base;
  std::size_t i = kNone;
  std::string_view mid;
  std::size_t k = kNone;
  std::string_view leaf;

  std::string str() const {
    std::string s(base);
    append_index(s, i);
    s.append(mid);
    append_index(s, k);
    s.append(leaf);
    return s;
  }

 private:
  static void append_index(std::string& s, std::size_t index) {
    if (index == kNone) return;
    char buf[24];
    buf[0] = '[';
    char* end = std::to_chars(buf + 1, buf + sizeof buf - 1, index).ptr;
    *end++ = ']';
    s.append(buf, static_cast<std::size_t>(end - buf));
  }
};

Error type_error(const Param& param, std::string_view expected, od::json_type got) {
  std::string message = "Invalid type for '";
  message += param.str();
  message += "': expected ";
  message += expected;
  message += ", but got ";
  message += type_name(got);
  message += " instead.";
  return Error{400, std::move(message)};
}

Error value_error(const Param& param, std::string_view what) {
  std::string message = "Invalid value for '";
  message += param.str();
  message += "': ";
  message += what;
  return Error{400, std::move(message)};
}

Error missing_error(const Param& param) {
  std::string message = "Missing required parameter: '";
  message += param.str();
  message += "'.";
  return Error{400, std::move(message)};
}

std::string_view trim_json_whitespace(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

enum class NumberKind { kInteger, kNonInteger, kMalformed };

/// JSON number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
NumberKind classify_number(std::string_view s) {
  std::size_t i = 0;
  const auto digits = [&] {
    const std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i - start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (digits() == 0) {
    return NumberKind::kMalformed;
  }
  bool integer = true;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (digits() == 0) return NumberKind::kMalformed;
    integer = false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (digits() == 0) return NumberKind::kMalformed;
    integer = false;
  }
  if (i != s.size()) return NumberKind::kMalformed;
  return integer ? NumberKind::kInteger : NumberKind::kNonInteger;
}

}  // namespace

struct RequestParser::Impl {
  od::parser parser;
  // Padded copy for bodies that arrive without SIMDJSON_PADDING spare bytes; grows, never shrinks.
  std::unique_ptr<char[]> copy;
  std::size_t copy_capacity = 0;
  // Text pieces of the chat message being read: its role may come after its content, and the
  // canonical form puts the role first. The views point into simdjson's string buffer.
  std::vector<std::string_view> pieces;

  // Per-parse state.
  PromptSink* sink = nullptr;
  std::size_t prompt_bytes = 0;
  std::optional<Error> error;

  bool fail(Error e) {
    error = std::move(e);
    return false;
  }
  bool fail_json(simdjson::error_code code) { return fail(json_error(code)); }

  void emit(std::string_view piece) {
    if (piece.empty()) return;
    prompt_bytes += piece.size();
    if (sink != nullptr) sink->append(piece);
  }

  /// Reads the value's type; a bad token is a JSON error.
  bool type_of(od::value& v, od::json_type& t) {
    if (auto e = v.type().get(t)) return fail_json(e);
    return true;
  }

  /// String or null (present=false). Anything else is a type error naming param.
  bool read_optional_string(od::value& v, const Param& param, std::string_view& out, bool& present) {
    od::json_type t;
    if (!type_of(v, t)) return false;
    if (t == od::json_type::null) {
      present = false;
      return true;
    }
    if (t != od::json_type::string) return fail(type_error(param, "a string", t));
    if (auto e = v.get_string().get(out)) return fail_json(e);
    present = true;
    return true;
  }

  bool read_optional_bool(od::value& v, const Param& param, bool& out) {
    od::json_type t;
    if (!type_of(v, t)) return false;
    if (t == od::json_type::null) return true;  // null means "use the default"
    if (t != od::json_type::boolean) return fail(type_error(param, "a boolean", t));
    if (auto e = v.get_bool().get(out)) return fail_json(e);
    return true;
  }

  /// Integer >= min_value, or null (leaves out untouched).
  bool read_optional_int(od::value& v, const Param& param, std::int64_t min_value,
                         std::optional<std::int64_t>& out) {
    od::json_type t;
    if (!type_of(v, t)) return false;
    if (t == od::json_type::null) {
      out.reset();
      return true;
    }
    std::int64_t n = 0;
    if (!read_int(v, t, param, n)) return false;
    if (n < min_value) {
      std::string what = "expected an integer >= ";
      what += std::to_string(min_value);
      what += ", got ";
      what += std::to_string(n);
      what += '.';
      return fail(value_error(param, what));
    }
    out = n;
    return true;
  }

  /// An integer of type t (already read); floats and out-of-range numbers are named errors.
  bool read_int(od::value& v, od::json_type t, const Param& param, std::int64_t& n) {
    if (t != od::json_type::number) return fail(type_error(param, "an integer", t));
    const auto e = v.get_int64().get(n);
    if (e == simdjson::SUCCESS) return true;
    // Tell a well-formed non-integer (1.5, 1e3, 1e400) or an integer beyond int64 from a
    // malformed number token (1.2.3, -), which is a JSON error.
    const std::string_view raw = trim_json_whitespace(v.raw_json_token());
    switch (classify_number(raw)) {
      case NumberKind::kInteger: return fail(value_error(param, "the integer is out of range."));
      case NumberKind::kNonInteger: return fail(type_error(param, "an integer", od::json_type::number));
      case NumberKind::kMalformed: break;
    }
    return fail_json(e);
  }

  bool parse_stream_options(od::value& v, RequestFields& out) {
    od::json_type t;
    if (!type_of(v, t)) return false;
    if (t == od::json_type::null) return true;
    if (t != od::json_type::object) return fail(type_error("stream_options", "an object", t));
    od::object obj;
    if (auto e = v.get_object().get(obj)) return fail_json(e);
    for (auto field_result : obj) {
      od::field field;
      if (auto e = std::move(field_result).get(field)) return fail_json(e);
      std::string_view key;
      if (auto e = field.unescaped_key().get(key)) return fail_json(e);
      od::value value = field.value();
      if (key == "include_usage") {
        if (!read_optional_bool(value, "stream_options.include_usage", out.include_usage)) return false;
      } else if (key == "continuous_usage_stats") {
        if (!read_optional_bool(value, "stream_options.continuous_usage_stats", out.continuous_usage_stats)) {
          return false;
        }
      }
    }
    return true;
  }

  /// One entry of a multi-part content array: {"type":"text","text":...} contributes its text;
  /// other part types (image_url, input_audio ...) contribute nothing but must still be objects
  /// with a string "type".
  bool parse_content_part(od::value& v, std::size_t message_index, std::size_t part_index) {
    od::json_type t;
    if (!type_of(v, t)) return false;
    if (t != od::json_type::object) {
      return fail(type_error(Param("messages", message_index, ".content", part_index), "an object", t));
    }
    od::object obj;
    if (auto e = v.get_object().get(obj)) return fail_json(e);
    std::string_view type;
    bool has_type = false;
    std::string_view text;
    bool has_text = false;
    // "text" may precede "type", so a non-string text is judged after the loop.
    bool text_has_bad_type = false;
    od::json_type text_type = od::json_type::string;
    for (auto field_result : obj) {
      od::field field;
      if (auto e = std::move(field_result).get(field)) return fail_json(e);
      std::string_view key;
      if (auto e = field.unescaped_key().get(key)) return fail_json(e);
      od::value value = field.value();
      if (key == "type") {
        od::json_type tt;
        if (!type_of(value, tt)) return false;
        if (tt != od::json_type::string) {
          return fail(type_error(Param("messages", message_index, ".content", part_index, ".type"), "a string", tt));
        }
        if (auto e = value.get_string().get(type)) return fail_json(e);
        has_type = true;
      } else if (key == "text") {
        od::json_type tt;
        if (!type_of(value, tt)) return false;
        if (tt == od::json_type::string) {
          if (auto e = value.get_string().get(text)) return fail_json(e);
          has_text = true;
          text_has_bad_type = false;
        } else {
          text_has_bad_type = true;
          text_type = tt;
          has_text = false;
        }
      }
    }
    const auto param = [&](std::string_view leaf) {
      return Param("messages", message_index, ".content", part_index, leaf);
    };
    if (!has_type) return fail(missing_error(param(".type")));
    if (type != "text") return true;
    if (text_has_bad_type) return fail(type_error(param(".text"), "a string", text_type));
    if (!has_text) return fail(missing_error(param(".text")));
    pieces.push_back(text);
    return true;
  }

  bool parse_content(od::value& v, std::size_t message_index) {
    od::json_type t;
    if (!type_of(v, t)) return false;
    switch (t) {
      case od::json_type::null:
        return true;
      case od::json_type::string: {
        std::string_view s;
        if (auto e = v.get_string().get(s)) return fail_json(e);
        pieces.push_back(s);
        return true;
      }
      case od::json_type::array: {
        od::array arr;
        if (auto e = v.get_array().get(arr)) return fail_json(e);
        std::size_t part_index = 0;
        for (auto part_result : arr) {
          od::value part;
          if (auto e = std::move(part_result).get(part)) return fail_json(e);
          if (!parse_content_part(part, message_index, part_index)) return false;
          ++part_index;
        }
        return true;
      }
      default:
        return fail(type_error(Param("messages", message_index, ".content"),
                               "a string, an array of content parts or null", t));
    }
  }

  bool parse_message(od::value& v, std::size_t index) {
    od::json_type t;
    if (!type_of(v, t)) return false;
    if (t != od::json_type::object) return fail(type_error(Param("messages", index), "an object", t));
    od::object obj;
    if (auto e = v.get_object().get(obj)) return fail_json(e);
    pieces.clear();
    std::string_view role;
    bool has_role = false;
    for (auto field_result : obj) {
      od::field field;
      if (auto e = std::move(field_result).get(field)) return fail_json(e);
      std::string_view key;
      if (auto e = field.unescaped_key().get(key)) return fail_json(e);
      od::value value = field.value();
      if (key == "role") {
        if (!read_optional_string(value, Param("messages", index, ".role"), role, has_role)) return false;
      } else if (key == "content") {
        pieces.clear();  // a repeated "content" replaces the earlier one, as in Python's json
        if (!parse_content(value, index)) return false;
      }
    }
    if (!has_role) return fail(missing_error(Param("messages", index, ".role")));
    emit(role);
    emit("\n");
    for (const auto piece : pieces) emit(piece);
    emit("\n\n");
    return true;
  }

  bool parse_messages(od::value& v) {
    od::json_type t;
    if (!type_of(v, t)) return false;
    if (t != od::json_type::array) return fail(type_error("messages", "an array", t));
    od::array arr;
    if (auto e = v.get_array().get(arr)) return fail_json(e);
    std::size_t index = 0;
    for (auto message_result : arr) {
      od::value message;
      if (auto e = std::move(message_result).get(message)) return fail_json(e);
      if (!parse_message(message, index)) return false;
      ++index;
    }
    if (index == 0) return fail(value_error("messages", "expected a non-empty array."));
    return true;
  }

  /// Emits one token id; " " before every id but the first of its array.
  bool emit_token_id(od::value& v, const Param& param, bool first) {
    od::json_type t;
    if (!type_of(v, t)) return false;
    std::int64_t id = 0;
    if (!read_int(v, t, param, id)) return false;
    if (id < 0) return fail(value_error(param, "token ids must be non-negative integers."));
    char buf[24];
    char* p = buf;
    if (!first) *p++ = ' ';
    p = std::to_chars(p, buf + sizeof buf, id).ptr;
    emit(std::string_view(buf, static_cast<std::size_t>(p - buf)));
    return true;
  }

  /// prompt / input: a string; an array of strings (joined with "\n"); an array of token ids
  /// (" "-separated decimals); an array of token-id arrays (each as before, joined with "\n").
  /// The first element fixes the array's kind; a mixed array is a type error.
  bool parse_prompt(od::value& v, std::string_view name) {
    od::json_type t;
    if (!type_of(v, t)) return false;
    if (t == od::json_type::string) {
      std::string_view s;
      if (auto e = v.get_string().get(s)) return fail_json(e);
      emit(s);
      return true;
    }
    if (t != od::json_type::array) {
      return fail(type_error(name, "a string, an array of strings or an array of token ids", t));
    }
    od::array arr;
    if (auto e = v.get_array().get(arr)) return fail_json(e);
    std::size_t index = 0;
    od::json_type kind = od::json_type::null;
    for (auto elem_result : arr) {
      od::value elem;
      if (auto e = std::move(elem_result).get(elem)) return fail_json(e);
      od::json_type et;
      if (!type_of(elem, et)) return false;
      if (index == 0) {
        if (et != od::json_type::string && et != od::json_type::number && et != od::json_type::array) {
          return fail(type_error(Param(name, 0), "a string, a token id or an array of token ids", et));
        }
        kind = et;
      } else if (et != kind) {
        const std::string_view expected = kind == od::json_type::string   ? "a string"
                                          : kind == od::json_type::number ? "an integer"
                                                                          : "an array";
        return fail(type_error(Param(name, index), expected, et));
      }
      if (kind == od::json_type::string) {
        std::string_view s;
        if (auto e = elem.get_string().get(s)) return fail_json(e);
        if (index > 0) emit("\n");
        emit(s);
      } else if (kind == od::json_type::number) {
        if (!emit_token_id(elem, Param(name, index), index == 0)) return false;
      } else {
        if (index > 0) emit("\n");
        od::array inner;
        if (auto e = elem.get_array().get(inner)) return fail_json(e);
        std::size_t j = 0;
        for (auto id_result : inner) {
          od::value id;
          if (auto e = std::move(id_result).get(id)) return fail_json(e);
          if (!emit_token_id(id, Param(name, index, {}, j), j == 0)) return false;
          ++j;
        }
        if (j == 0) return fail(value_error(Param(name, index), "expected a non-empty array of token ids."));
      }
      ++index;
    }
    if (index == 0) return fail(value_error(name, "expected a non-empty array."));
    return true;
  }

  Result<RequestFields> run(Endpoint endpoint, std::string_view body, std::size_t capacity, PromptSink* prompt_sink) {
    sink = prompt_sink;
    prompt_bytes = 0;
    error.reset();

    const char* base = body.data();
    std::size_t padded_capacity = capacity;
    if (capacity < body.size() || capacity - body.size() < simdjson::SIMDJSON_PADDING) {
      const std::size_t need = body.size() + simdjson::SIMDJSON_PADDING;
      if (copy_capacity < need) {
        const std::size_t grown = std::max(need, copy_capacity * 2);
        copy = std::make_unique_for_overwrite<char[]>(grown);
        copy_capacity = grown;
      }
      if (!body.empty()) std::memcpy(copy.get(), body.data(), body.size());
      std::memset(copy.get() + body.size(), 0, simdjson::SIMDJSON_PADDING);
      base = copy.get();
      padded_capacity = copy_capacity;
    }

    od::document doc;
    if (auto e = parser.iterate(base, body.size(), padded_capacity).get(doc)) return json_error(e);
    od::object root;
    {
      od::json_type t;
      if (auto e = doc.type().get(t)) return json_error(e);
      if (t != od::json_type::object) {
        return Error{400, "Invalid JSON in request body: expected a JSON object, but got " +
                              std::string(type_name(t)) + "."};
      }
      if (auto e = doc.get_object().get(root)) return json_error(e);
    }

    const std::string_view prompt_key = endpoint == Endpoint::kChatCompletions ? "messages"
                                        : endpoint == Endpoint::kCompletions   ? "prompt"
                                        : endpoint == Endpoint::kEmbeddings    ? "input"
                                                                               : "";
    RequestFields out;
    bool has_model = false;
    std::optional<std::int64_t> max_tokens;
    std::optional<std::int64_t> max_completion_tokens;
    bool user_present = false;

    for (auto field_result : root) {
      od::field field;
      if (auto e = std::move(field_result).get(field)) return json_error(e);
      std::string_view key;
      if (auto e = field.unescaped_key().get(key)) return json_error(e);
      od::value value = field.value();
      bool ok = true;
      if (key == "model") {
        // The raw token is taken before reading: it starts at the opening quote.
        const std::string_view raw = trim_json_whitespace(value.raw_json_token());
        ok = read_optional_string(value, "model", out.model, has_model);
        if (ok && has_model) {
          out.model_value_offset = static_cast<std::size_t>(raw.data() - base);
          out.model_value_length = raw.size();
        } else if (ok) {
          out.model = {};
          out.model_value_offset = out.model_value_length = 0;
        }
      } else if (!prompt_key.empty() && key == prompt_key) {
        if (out.has_prompt) {
          // The sink has already seen the first one; there is no taking it back.
          return Error{400, "Invalid JSON in request body: duplicate key '" + std::string(prompt_key) + "'."};
        }
        od::json_type t;
        ok = type_of(value, t);
        if (ok && t != od::json_type::null) {
          out.has_prompt = true;
          ok = endpoint == Endpoint::kChatCompletions ? parse_messages(value) : parse_prompt(value, prompt_key);
        }
      } else if (key == "stream") {
        ok = read_optional_bool(value, "stream", out.stream);
      } else if (key == "stream_options") {
        ok = parse_stream_options(value, out);
      } else if (key == "max_tokens") {
        ok = read_optional_int(value, "max_tokens", 1, max_tokens);
      } else if (key == "max_completion_tokens") {
        ok = read_optional_int(value, "max_completion_tokens", 1, max_completion_tokens);
      } else if (key == "user") {
        ok = read_optional_string(value, "user", out.user, user_present);
        if (ok && !user_present) out.user = {};
      } else if (key == "ignore_eos") {
        ok = read_optional_bool(value, "ignore_eos", out.ignore_eos);
      } else if (key == "min_tokens") {
        ok = read_optional_int(value, "min_tokens", 0, out.min_tokens);
      } else if (key == "sim_output_tokens") {
        ok = read_optional_int(value, "sim_output_tokens", 1, out.sim_output_tokens);
      }
      if (!ok) return std::move(*error);
    }
    // A root object that closed early leaves tokens behind ({"a":1}} or {} {}).
    if (!doc.current_location().error()) {
      return Error{400, "Invalid JSON in request body: unexpected content after the top-level object."};
    }

    if (endpoint != Endpoint::kOther) {
      if (!has_model) return missing_error("model");
      if (!out.has_prompt) return missing_error(prompt_key);
    }
    out.max_tokens = max_completion_tokens ? max_completion_tokens : max_tokens;
    out.prompt_bytes = prompt_bytes;
    return out;
  }
};

RequestParser::RequestParser() : impl_(std::make_unique<Impl>()) {}
RequestParser::~RequestParser() = default;

Result<RequestFields> RequestParser::parse(Endpoint endpoint, std::string_view body, std::size_t capacity,
                                           PromptSink* sink) {
  return impl_->run(endpoint, body, capacity, sink);
}

}  // namespace kvroute::openai
