#include "config/load_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace kvroute::config {
namespace {

constexpr std::uint32_t kMaxWeight = 10'000;

// Headers whose framing or routing kvroute manages itself; a pool may not add or strip them.
constexpr std::array<std::string_view, 9> kManagedHeaders = {"host",       "content-length", "transfer-encoding",
                                                             "connection", "keep-alive",     "upgrade",
                                                             "te",         "trailer",        "proxy-connection"};

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// How a node reads in "got ..." messages.
std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: {
      std::string text = node.Scalar();
      if (text.size() > 60) text = text.substr(0, 57) + "...";
      return "\"" + text + "\"";
    }
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "nothing";
  }
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool has_space_or_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == 0x7f; });
}

// One key/value pair (or list element) being read: the value, the key (for locating a missing
// value), and the key path.
struct Field {
  YAML::Node key;
  YAML::Node value;
  std::string path;
};

class Loader {
 public:
  Loader(std::string file, const LoadOptions& options)
      : file_(std::move(file)), env_(options.env ? options.env : process_env()), max_errors_(options.max_errors) {
    config_.sources.file = file_;
  }

  Result<GatewayConfig> load(std::string_view text) {
    std::vector<YAML::Node> documents;
    try {
      documents = YAML::LoadAll(std::string(text));
    } catch (const YAML::Exception& e) {
      ConfigLocation at{file_, e.mark.line + 1, e.mark.column + 1, ""};
      if (e.mark.is_null()) at.line = 0;
      return config_error(at, "invalid YAML: " + e.msg);
    }
    if (documents.size() > 1) {
      return config_error(location(documents[1].Mark(), ""), "only one YAML document is expected");
    }
    const YAML::Node root = documents.empty() ? YAML::Node() : documents[0];
    try {
      read_root(root);
    } catch (const YAML::Exception& e) {  // not expected once parsed; never let it escape a Result API
      return config_error(location(e.mark, ""), std::string("invalid YAML: ") + e.msg);
    }
    if (errors_.empty()) {
      if (auto valid = validate_config(config_); !valid) return valid.error();
      return std::move(config_);
    }
    std::string message;
    for (std::size_t i = 0; i < errors_.size() && i < max_errors_; ++i) {
      if (i > 0) message += '\n';
      message += errors_[i];
    }
    if (errors_.size() > max_errors_) {
      message += "\n" + file_ + ": and " + std::to_string(errors_.size() - max_errors_) + " more errors";
    }
    return Error{EINVAL, std::move(message)};
  }

 private:
  using Handler = std::function<void(const Field&)>;
  struct Key {
    std::string_view name;
    Handler read;
    bool required = false;
  };

  // ---- locations and errors ----

  ConfigLocation location(const YAML::Mark& mark, const std::string& path) const {
    if (mark.is_null()) return ConfigLocation{file_, 0, 0, path};
    return ConfigLocation{file_, mark.line + 1, mark.column + 1, path};
  }

  // A value's own mark, except for an empty value (`key:`), whose mark is wherever the next
  // token happens to be: point at its key instead.
  static YAML::Mark mark_of(const Field& f) {
    if (f.value.IsDefined() && !f.value.IsNull()) return f.value.Mark();
    if (f.key.IsDefined()) return f.key.Mark();
    return f.value.Mark();
  }

  void fail(const Field& f, const std::string& reason) { fail_at(mark_of(f), f.path, reason); }
  void fail_at(const YAML::Mark& mark, const std::string& path, const std::string& reason) {
    errors_.push_back(format_config_error(location(mark, path), reason));
  }
  void fail_got(const Field& f, const std::string& reason) { fail(f, reason + ", got " + describe(f.value)); }

  void record(const Field& f) { config_.sources.entries[f.path] = location(mark_of(f), f.path); }

  // ---- structure ----

  // Reads a mapping with a fixed set of keys: unknown and duplicate keys are refused, missing
  // required keys reported. An empty value (`admin:`) reads as an empty mapping.
  void read_map(const Field& f, const std::vector<Key>& keys) {
    if (f.value.IsDefined() && !f.value.IsNull() && !f.value.IsMap()) {
      fail_got(f, "must be a mapping");
      return;
    }
    std::unordered_set<std::string_view> seen;
    for_each_entry(f, [&](const Field& entry, const std::string& name) {
      const auto it = std::find_if(keys.begin(), keys.end(), [&](const Key& k) { return k.name == name; });
      if (it == keys.end()) {
        fail_at(entry.key.Mark(), entry.path, unknown_key_reason(name, keys));
        return;
      }
      seen.insert(it->name);
      record(entry);
      it->read(entry);
    });
    for (const auto& k : keys) {
      if (k.required && !seen.count(k.name)) {
        fail(f, "missing required key \"" + std::string(k.name) + "\"");
      }
    }
  }

  static std::string unknown_key_reason(const std::string& name, const std::vector<Key>& keys) {
    std::string_view best;
    std::size_t best_distance = 3;  // suggest only near misses
    for (const auto& k : keys) {
      const std::size_t d = edit_distance(name, k.name);
      if (d < best_distance) {
        best_distance = d;
        best = k.name;
      }
    }
    if (!best.empty()) return "unknown key (did you mean \"" + std::string(best) + "\"?)";
    std::string reason = "unknown key; expected one of: ";
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (i > 0) reason += ", ";
      reason += keys[i].name;
    }
    return reason;
  }

  // Calls visit(entry, key) for every pair of a mapping whose keys are strings; refuses
  // non-string and duplicate keys (yaml-cpp keeps duplicates; YAML forbids them).
  void for_each_entry(const Field& f, const std::function<void(const Field&, const std::string&)>& visit) {
    if (!f.value.IsDefined() || f.value.IsNull()) return;
    std::unordered_map<std::string, int> lines;
    for (auto it = f.value.begin(); it != f.value.end(); ++it) {
      const YAML::Node key = it->first;
      if (!key.IsScalar()) {
        fail_at(key.Mark(), f.path, "keys must be plain strings, got " + describe(key));
        continue;
      }
      const std::string& name = key.Scalar();
      Field entry{key, it->second, key_path_child(f.path, name)};
      if (const auto [first, fresh] = lines.emplace(name, key.Mark().line + 1); !fresh) {
        fail_at(key.Mark(), entry.path, "duplicate key (first at line " + std::to_string(first->second) + ")");
        continue;
      }
      visit(entry, name);
    }
  }

  // A mapping whose keys the user chooses (labels, aliases, params, headers).
  void read_free_map(const Field& f, const std::function<void(const Field&, const std::string&)>& visit) {
    if (f.value.IsDefined() && !f.value.IsNull() && !f.value.IsMap()) {
      fail_got(f, "must be a mapping");
      return;
    }
    for_each_entry(f, [&](const Field& entry, const std::string& name) {
      record(entry);
      if (name.empty()) {
        fail_at(entry.key.Mark(), entry.path, "keys must not be empty");
        return;
      }
      visit(entry, name);
    });
  }

  void read_list(const Field& f, const std::function<void(const Field&)>& visit) {
    if (f.value.IsDefined() && !f.value.IsNull() && !f.value.IsSequence()) {
      fail_got(f, "must be a list");
      return;
    }
    if (!f.value.IsDefined() || f.value.IsNull()) return;
    std::size_t i = 0;
    for (auto it = f.value.begin(); it != f.value.end(); ++it, ++i) {
      Field element{*it, *it, key_path_index(f.path, i)};
      record(element);
      visit(element);
    }
  }

  // ---- scalars ----

  std::optional<std::string> scalar(const Field& f, const std::string& expectation) {
    if (!f.value.IsScalar()) {
      fail_got(f, expectation);
      return std::nullopt;
    }
    return f.value.Scalar();
  }

  void read_string(const Field& f, std::string& out) {
    auto text = scalar(f, "must be a non-empty string");
    if (!text) return;
    if (text->empty()) {
      fail(f, "must be a non-empty string");
      return;
    }
    out = std::move(*text);
  }

  void read_bool(const Field& f, bool& out) {
    auto text = scalar(f, "must be true or false");
    if (!text) return;
    auto parsed = parse_bool(*text);
    if (!parsed) return fail_got(f, parsed.error().message);
    out = *parsed;
  }

  template <class Int>
  void read_int(const Field& f, std::int64_t min, std::int64_t max, Int& out) {
    const std::string expectation =
        max == std::numeric_limits<std::int64_t>::max()
            ? "must be an integer >= " + std::to_string(min)
            : "must be an integer from " + std::to_string(min) + " to " + std::to_string(max);
    auto text = scalar(f, expectation);
    if (!text) return;
    auto parsed = parse_integer(*text);
    if (!parsed || *parsed < min || *parsed > max) return fail_got(f, expectation);
    out = static_cast<Int>(*parsed);
  }

  void read_duration(const Field& f, bool allow_zero, Nanos& out) {
    auto text = scalar(f, R"(must be a duration such as "250ms", "2s", "1m30s" or a number of seconds)");
    if (!text) return;
    auto parsed = parse_duration(*text);
    if (!parsed) return fail_got(f, parsed.error().message);
    if (*parsed == 0 && !allow_zero) return fail_got(f, "must be longer than 0s");
    out = *parsed;
  }

  void read_size(const Field& f, std::uint64_t min, std::uint64_t max, std::uint64_t& out) {
    auto text = scalar(f, R"(must be a size such as "16MiB", "512KiB" or a number of bytes)");
    if (!text) return;
    auto parsed = parse_size(*text);
    if (!parsed) return fail_got(f, parsed.error().message);
    if (*parsed < min || *parsed > max) {
      return fail_got(f, "must be from " + std::to_string(min) + " bytes to " + std::to_string(max / kMiB) + "MiB");
    }
    out = *parsed;
  }

  void read_listen(const Field& f, HostPort& out) {
    auto text = scalar(f, "must be HOST:PORT, such as 127.0.0.1:8080");
    if (!text) return;
    auto parsed = parse_listen_address(*text);
    if (!parsed) return fail_got(f, parsed.error().message);
    out = std::move(*parsed);
  }

  // A string with ${VAR} references expanded.
  std::optional<std::string> read_expanded(const Field& f) {
    auto text = scalar(f, "must be a string");
    if (!text) return std::nullopt;
    auto expanded = expand_env(*text, env_);
    if (!expanded) {
      fail(f, expanded.error().message);
      return std::nullopt;
    }
    return std::move(*expanded);
  }

  // ---- sections ----

  void read_root(const YAML::Node& root) {
    Field f{YAML::Node(), root, ""};
    if (root.IsDefined() && !root.IsNull()) record(f);
    read_map(f, {
                    {"listeners", [&](const Field& v) { read_listeners(v); }},
                    {"limits", [&](const Field& v) { read_limits(v); }},
                    {"server", [&](const Field& v) { read_server(v); }},
                    {"admin", [&](const Field& v) { read_admin(v); }},
                    {"pools", [&](const Field& v) { read_pools(v); }},
                });
  }

  void read_listeners(const Field& f) {
    config_.listeners.clear();
    read_list(f, [&](const Field& element) {
      ListenerConfig listener;
      if (element.value.IsScalar()) {  // shorthand: just the address
        record(Field{element.key, element.value, element.path + ".address"});
        read_listen(Field{element.key, element.value, element.path + ".address"}, listener.address);
      } else {
        read_map(element, {
                              {"address", [&](const Field& v) { read_listen(v, listener.address); }, true},
                              {"workers", [&](const Field& v) { read_int(v, 0, 1024, listener.workers); }},
                          });
      }
      config_.listeners.push_back(std::move(listener));
    });
  }

  void read_limits(const Field& f) {
    auto& limits = config_.limits;
    read_map(f,
             {
                 {"max_body_bytes", [&](const Field& v) { read_size(v, 1, kGiB, limits.max_body_bytes); }},
                 {"max_header_bytes", [&](const Field& v) { read_size(v, kKiB, 16 * kMiB, limits.max_header_bytes); }},
                 {"max_connections", [&](const Field& v) { read_int(v, 1, 10'000'000, limits.max_connections); }},
             });
  }

  void read_server(const Field& f) {
    auto& server = config_.server;
    read_map(f, {
                    {"shutdown_grace", [&](const Field& v) { read_duration(v, true, server.shutdown_grace); }},
                    {"backend_header", [&](const Field& v) { read_bool(v, server.backend_header); }},
                    {"request_id", [&](const Field& v) { read_bool(v, server.request_id); }},
                });
  }

  void read_admin(const Field& f) {
    auto& admin = config_.admin;
    read_map(f, {
                    {"listen",
                     [&](const Field& v) {
                       HostPort address;
                       const std::size_t before = errors_.size();
                       read_listen(v, address);
                       if (errors_.size() == before) admin.listen = std::move(address);
                     }},
                    {"token",
                     [&](const Field& v) {
                       auto token = read_expanded(v);
                       if (!token) return;
                       if (token->empty())
                         return fail(v, "must not be empty (leave token out to disable authentication)");
                       if (has_space_or_control(*token))
                         return fail(v, "must not contain spaces or control characters");
                       admin.token = std::move(*token);
                     }},
                });
    if (admin.token && !admin.listen) fail(f, "token is set but listen is not: the admin API is disabled");
  }

  void read_pools(const Field& f) {
    read_list(f, [&](const Field& element) {
      PoolConfig pool;
      read_pool(element, pool);
      config_.pools.push_back(std::move(pool));
    });
  }

  void read_pool(const Field& f, PoolConfig& pool) {
    bool policy_named = false;
    read_map(f, {
                    {"name",
                     [&](const Field& v) {
                       read_string(v, pool.name);
                       if (!pool.name.empty() &&
                           (pool.name.size() > 64 || !std::all_of(pool.name.begin(), pool.name.end(), is_name_char))) {
                         fail_got(v, "must be 1-64 letters, digits, '.', '_' or '-'");
                       }
                     },
                     true},
                    {"models", [&](const Field& v) { read_model_list(v, pool.models); }},
                    {"aliases",
                     [&](const Field& v) {
                       read_free_map(v, [&](const Field& entry, const std::string& alias) {
                         if (has_space_or_control(alias)) {
                           return fail_at(entry.key.Mark(), entry.path, "a model name must not contain spaces");
                         }
                         std::string target;
                         read_string(entry, target);
                         if (has_space_or_control(target))
                           return fail_got(entry, "must be a model name without spaces");
                         if (!target.empty()) pool.aliases[alias] = std::move(target);
                       });
                     }},
                    {"default", [&](const Field& v) { read_bool(v, pool.is_default); }},
                    {"backends",
                     [&](const Field& v) {
                       read_list(v, [&](const Field& element) {
                         BackendConfig backend;
                         if (read_backend(element, backend)) pool.backends.push_back(std::move(backend));
                       });
                     },
                     true},
                    {"policy",
                     [&](const Field& v) {
                       read_policy(v, pool.policy);
                       policy_named = true;
                     }},
                    {"timeouts", [&](const Field& v) { read_timeouts(v, pool.timeouts); }},
                    {"headers", [&](const Field& v) { read_headers(v, pool.headers); }},
                    {"routing_key", [&](const Field& v) { read_routing_key(v, pool.routing_key); }},
                    {"retries", [&](const Field& v) { read_retries(v, pool.retries); }},
                    {"metrics", [&](const Field& v) { read_metrics(v, pool.metrics); }},
                    {"queue", [&](const Field& v) { read_queue(v, pool.queue); }},
                });
    if (!policy_named) {
      pool.policy.where = location(mark_of(f), f.path + ".policy.name");
    }
  }

  void read_model_list(const Field& f, std::vector<std::string>& out) {
    read_list(f, [&](const Field& element) {
      std::string model;
      read_string(element, model);
      if (model.empty()) return;
      if (has_space_or_control(model)) return fail_got(element, "must be a model name without spaces");
      out.push_back(std::move(model));
    });
  }

  // False when the entry is unusable (no valid url); errors are recorded either way.
  bool read_backend(const Field& f, BackendConfig& backend) {
    bool have_url = false;
    std::optional<std::string> name;
    auto read_url = [&](const Field& v) {
      auto text = scalar(v, "must be a URL such as http://10.0.0.5:8000");
      if (!text) return;
      auto parsed = parse_backend_url(*text);
      if (!parsed) return fail_got(v, parsed.error().message);
      backend.url = std::move(parsed->url);
      backend.host = std::move(parsed->host);
      backend.port = parsed->port;
      backend.base_path = std::move(parsed->base_path);
      backend.name = std::move(parsed->name);
      have_url = true;
    };
    if (f.value.IsScalar()) {  // shorthand: just the url
      const Field url{f.key, f.value, f.path + ".url"};
      record(url);
      read_url(url);
      return have_url;
    }
    read_map(f, {
                    {"url", read_url, true},
                    {"weight", [&](const Field& v) { read_int(v, 0, kMaxWeight, backend.weight); }},
                    {"name",
                     [&](const Field& v) {
                       std::string text;
                       read_string(v, text);
                       if (text.empty()) return;
                       if (has_space_or_control(text))
                         return fail_got(v, "must not contain spaces or control characters");
                       name = std::move(text);
                     }},
                    {"labels",
                     [&](const Field& v) {
                       read_free_map(v, [&](const Field& entry, const std::string& key) {
                         auto text = scalar(entry, "must be a string");
                         if (text) backend.labels[key] = std::move(*text);
                       });
                     }},
                    {"max_connections", [&](const Field& v) { read_int(v, 1, 100'000, backend.max_connections); }},
                    {"kv_capacity_tokens",
                     [&](const Field& v) {
                       std::uint64_t tokens = 0;
                       const std::size_t before = errors_.size();
                       read_int(v, 1, std::int64_t{1} << 40, tokens);
                       if (errors_.size() == before) backend.kv_capacity_tokens = tokens;
                     }},
                    {"max_concurrency",
                     [&](const Field& v) {
                       std::uint32_t requests = 0;
                       const std::size_t before = errors_.size();
                       read_int(v, 1, 100'000, requests);
                       if (errors_.size() == before) backend.max_concurrency = requests;
                     }},
                    {"models", [&](const Field& v) { read_model_list(v, backend.models); }},
                });
    if (name) backend.name = std::move(*name);
    return have_url;
  }

  void read_policy(const Field& f, PolicyConfig& policy) {
    auto read_name = [&](const Field& v) {
      std::string name;
      read_string(v, name);
      if (name.empty()) return;
      if (!std::all_of(name.begin(), name.end(), is_name_char)) {
        return fail_got(v, "must be a policy name (letters, digits, '.', '_' or '-')");
      }
      policy.name = std::move(name);
      policy.where = location(mark_of(v), v.path);
    };
    policy.where = location(mark_of(f), f.path + ".name");
    if (f.value.IsScalar()) {  // shorthand: just the name
      read_name(f);
      return;
    }
    read_map(f, {
                    {"name", read_name},
                    {"params",
                     [&](const Field& v) {
                       read_free_map(v, [&](const Field& entry, const std::string& key) {
                         auto text = scalar(entry, "must be a single value (number, string or true/false)");
                         if (text)
                           policy.params[key] = PolicyParam{std::move(*text), location(mark_of(entry), entry.path)};
                       });
                     }},
                });
  }

  void read_timeouts(const Field& f, TimeoutsConfig& timeouts) {
    read_map(f, {
                    {"connect", [&](const Field& v) { read_duration(v, false, timeouts.connect); }},
                    {"first_token", [&](const Field& v) { read_duration(v, false, timeouts.first_token); }},
                    {"stream_idle", [&](const Field& v) { read_duration(v, false, timeouts.stream_idle); }},
                    {"total", [&](const Field& v) { read_duration(v, false, timeouts.total); }},
                });
  }

  // A header name a pool may add or strip; reports and returns false otherwise.
  bool check_header_name(const YAML::Mark& mark, const std::string& path, const std::string& name) {
    if (!is_header_name(name)) {
      fail_at(mark, path, "\"" + name + "\" is not a valid header name");
      return false;
    }
    const std::string lower = to_lower(name);
    if (std::find(kManagedHeaders.begin(), kManagedHeaders.end(), lower) != kManagedHeaders.end()) {
      fail_at(mark, path, "\"" + name + "\" is managed by kvroute and cannot be changed");
      return false;
    }
    return true;
  }

  void read_headers(const Field& f, HeaderRules& headers) {
    read_map(f, {
                    {"add",
                     [&](const Field& v) {
                       std::unordered_map<std::string, int> seen;
                       read_free_map(v, [&](const Field& entry, const std::string& name) {
                         if (!check_header_name(entry.key.Mark(), entry.path, name)) return;
                         if (const auto [it, fresh] = seen.emplace(to_lower(name), entry.key.Mark().line + 1); !fresh) {
                           return fail_at(entry.key.Mark(), entry.path,
                                          "header names ignore case: this repeats line " + std::to_string(it->second));
                         }
                         auto value = read_expanded(entry);
                         if (!value) return;
                         if (value->empty()) return fail(entry, "is empty (use strip to remove a header)");
                         if (value->find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
                           return fail(entry, "must not contain line breaks or NUL");
                         }
                         headers.add.push_back(HeaderValue{name, std::move(*value)});
                       });
                     }},
                    {"strip",
                     [&](const Field& v) {
                       read_list(v, [&](const Field& element) {
                         std::string name;
                         read_string(element, name);
                         if (name.empty() || !check_header_name(mark_of(element), element.path, name)) return;
                         std::string lower = to_lower(name);
                         if (std::find(headers.strip.begin(), headers.strip.end(), lower) != headers.strip.end()) {
                           return fail_got(element, "is listed twice");
                         }
                         headers.strip.push_back(std::move(lower));
                       });
                     }},
                });
  }

  void read_routing_key(const Field& f, RoutingKeyConfig& key) {
    std::optional<Field> header_field;
    read_map(f, {
                    {"from",
                     [&](const Field& v) {
                       auto text = scalar(v, "must be none, header, user or session");
                       if (!text) return;
                       if (*text == "none") {
                         key.from = RoutingKeySource::kNone;
                       } else if (*text == "header") {
                         key.from = RoutingKeySource::kHeader;
                       } else if (*text == "user") {
                         key.from = RoutingKeySource::kUser;
                       } else if (*text == "session") {
                         key.from = RoutingKeySource::kSession;
                       } else {
                         fail_got(v, "must be none, header, user or session");
                       }
                     },
                     true},
                    {"header",
                     [&](const Field& v) {
                       std::string name;
                       read_string(v, name);
                       if (name.empty()) return;
                       if (!is_header_name(name)) return fail_got(v, "must be a header name");
                       key.header = to_lower(name);
                       header_field = v;
                     }},
                });
    if (key.from == RoutingKeySource::kHeader && key.header.empty() && !header_field) {
      fail(f, "from: header needs the header's name: add header: NAME");
    } else if (key.from != RoutingKeySource::kHeader && header_field) {
      fail(*header_field, "is only used with from: header");
      key.header.clear();
    }
  }

  void read_retries(const Field& f, RetryConfig& retries) {
    read_map(
        f, {
               {"attempts", [&](const Field& v) { read_int(v, 0, 10, retries.attempts); }},
               {"statuses",
                [&](const Field& v) {
                  retries.statuses.clear();
                  read_list(v, [&](const Field& element) {
                    int status = 0;
                    read_int(element, 429, 599, status);
                    if (status == 0) return;
                    if (status != 429 && status < 500) {
                      return fail_got(element, "must be 429 or a 5xx status (retrying other errors cannot help)");
                    }
                    if (std::find(retries.statuses.begin(), retries.statuses.end(), status) != retries.statuses.end()) {
                      return fail_got(element, "is listed twice");
                    }
                    retries.statuses.push_back(status);
                  });
                }},
           });
  }

  void read_metrics(const Field& f, MetricsScrapeConfig& metrics) {
    read_map(f, {
                    {"enabled",
                     [&](const Field& v) {
                       auto text = scalar(v, "must be auto, true or false");
                       if (!text) return;
                       if (*text == "auto") {
                         metrics.enabled.reset();
                         return;
                       }
                       auto parsed = parse_bool(*text);
                       if (!parsed) return fail_got(v, "must be auto, true or false");
                       metrics.enabled = *parsed;
                     }},
                    {"path",
                     [&](const Field& v) {
                       std::string path;
                       read_string(v, path);
                       if (path.empty()) return;
                       if (path.front() != '/' || has_space_or_control(path)) {
                         return fail_got(v, "must be a path starting with / (no spaces)");
                       }
                       metrics.path = std::move(path);
                     }},
                    {"interval", [&](const Field& v) { read_duration(v, false, metrics.interval); }},
                    {"timeout", [&](const Field& v) { read_duration(v, false, metrics.timeout); }},
                });
  }

  void read_queue(const Field& f, HoldQueueConfig& queue) {
    read_map(f, {
                    {"max_requests", [&](const Field& v) { read_int(v, 0, 1'000'000, queue.max_requests); }},
                    {"max_wait", [&](const Field& v) { read_duration(v, false, queue.max_wait); }},
                });
  }

  std::string file_;
  EnvLookup env_;
  std::size_t max_errors_;
  GatewayConfig config_;
  std::vector<std::string> errors_;
};

}  // namespace

Result<GatewayConfig> load_config_string(std::string_view text, std::string_view name, const LoadOptions& options) {
  return Loader(std::string(name), options).load(text);
}

Result<GatewayConfig> load_config_file(const std::string& path, const LoadOptions& options) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return Error{EISDIR, path + ": cannot read: is a directory"};
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return Error{err != 0 ? err : ENOENT, path + ": cannot read: " + std::strerror(err != 0 ? err : ENOENT)};
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Error{EIO, path + ": cannot read: I/O error"};
  return load_config_string(text.str(), path, options);
}

}  // namespace kvroute::config
