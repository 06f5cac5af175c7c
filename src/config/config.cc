#include "config/config.h"

#include <cerrno>

#include "config/values.h"

namespace kvroute::config {
namespace {

// The parent of a key path: "a.b[2]" -> "a.b", "a.b" -> "a", "a[\"x.y\"]" -> "a", "a" -> "".
std::string_view parent_path(std::string_view path) {
  if (path.ends_with("\"]")) {
    const auto open = path.rfind("[\"");
    return open == std::string_view::npos ? std::string_view{} : path.substr(0, open);
  }
  if (path.ends_with(']')) {
    const auto open = path.rfind('[');
    return open == std::string_view::npos ? std::string_view{} : path.substr(0, open);
  }
  const auto dot = path.rfind('.');
  return dot == std::string_view::npos ? std::string_view{} : path.substr(0, dot);
}

}  // namespace

std::string format_config_error(const ConfigLocation& at, std::string_view reason) {
  std::string out = at.file;
  if (at.line > 0) {
    out += ':' + std::to_string(at.line) + ':' + std::to_string(at.column);
  }
  if (!out.empty()) out += ": ";
  if (!at.key_path.empty()) {
    out += at.key_path;
    out += ": ";
  }
  out += reason;
  return out;
}

Error config_error(const ConfigLocation& at, std::string_view reason) {
  return Error{EINVAL, format_config_error(at, reason)};
}

ConfigLocation SourceMap::at(std::string_view key_path) const {
  ConfigLocation out{file, 0, 0, std::string(key_path)};
  std::string_view probe = key_path;
  while (true) {
    if (const auto it = entries.find(std::string(probe)); it != entries.end()) {
      out.line = it->second.line;
      out.column = it->second.column;
      return out;
    }
    if (probe.empty()) return out;
    probe = parent_path(probe);
  }
}

Error PolicyParam::error(std::string_view reason) const { return config_error(where, reason); }

Result<double> PolicyParam::as_number() const {
  auto parsed = parse_number(value);
  if (!parsed) return error(parsed.error().message + ", got \"" + value + "\"");
  return parsed;
}

Result<std::int64_t> PolicyParam::as_integer(std::int64_t min, std::int64_t max) const {
  auto parsed = parse_integer(value);
  if (!parsed || *parsed < min || *parsed > max) {
    std::string reason = "must be a whole number";
    if (min != std::numeric_limits<std::int64_t>::min() && max != std::numeric_limits<std::int64_t>::max()) {
      reason += " from " + std::to_string(min) + " to " + std::to_string(max);
    } else if (min != std::numeric_limits<std::int64_t>::min()) {
      reason += " >= " + std::to_string(min);
    } else if (max != std::numeric_limits<std::int64_t>::max()) {
      reason += " <= " + std::to_string(max);
    }
    return error(reason + ", got \"" + value + "\"");
  }
  return parsed;
}

Result<bool> PolicyParam::as_bool() const {
  auto parsed = parse_bool(value);
  if (!parsed) return error(parsed.error().message + ", got \"" + value + "\"");
  return parsed;
}

Result<Nanos> PolicyParam::as_duration() const {
  auto parsed = parse_duration(value);
  if (!parsed) return error(parsed.error().message + ", got \"" + value + "\"");
  return parsed;
}

const PolicyParam* PolicyConfig::param(std::string_view key) const {
  const auto it = params.find(std::string(key));
  return it == params.end() ? nullptr : &it->second;
}

Error PolicyConfig::error(std::string_view reason) const { return config_error(where, reason); }

std::map<std::string, std::string, std::less<>> PolicyConfig::values() const {
  std::map<std::string, std::string, std::less<>> out;
  for (const auto& [key, param] : params) out.emplace(key, param.value);
  return out;
}

Error PolicyConfig::locate(const Error& error) const {
  for (const auto& [key, param] : params) {
    if (error.message.find('\'' + key + '\'') != std::string::npos ||
        error.message.find('"' + key + '"') != std::string::npos) {
      return Error{error.code, format_config_error(param.where, error.message)};
    }
  }
  return Error{error.code, format_config_error(where, error.message)};
}

}  // namespace kvroute::config
