#include "routing/policy_params.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace kvroute::routing {
namespace {

constexpr int kInvalidArgument = 22;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string format_number(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::string("?");
}

Error bad(std::string_view policy, std::string_view param, std::string_view what) {
  std::string msg = "policy '";
  msg += policy;
  msg += "': parameter '";
  msg += param;
  msg += "': ";
  msg += what;
  return Error{kInvalidArgument, std::move(msg)};
}

Result<ParamValue> parse_value(const ParamSpec& spec, std::string_view text) {
  switch (spec.type) {
    case ParamType::kInt: {
      auto v = parse_int(text);
      if (!v) return v.error();
      if (static_cast<double>(*v) < spec.min || static_cast<double>(*v) > spec.max) {
        return Error{kInvalidArgument, "must be in [" + format_number(spec.min) + ", " + format_number(spec.max) +
                                           "], got " + std::string(text)};
      }
      return ParamValue::of_int(*v);
    }
    case ParamType::kDouble: {
      auto v = parse_double(text);
      if (!v) return v.error();
      if (*v < spec.min || *v > spec.max) {
        return Error{kInvalidArgument, "must be in [" + format_number(spec.min) + ", " + format_number(spec.max) +
                                           "], got " + std::string(text)};
      }
      return ParamValue::of_double(*v);
    }
    case ParamType::kBool: {
      auto v = parse_bool(text);
      if (!v) return v.error();
      return ParamValue::of_bool(*v);
    }
    case ParamType::kDuration: {
      auto v = parse_duration(text);
      if (!v) return v.error();
      const double secs = nanos_to_seconds(*v);
      if (secs < spec.min || secs > spec.max) {
        return Error{kInvalidArgument, "must be between " + format_number(spec.min) + "s and " +
                                           format_number(spec.max) + "s, got " + std::string(text)};
      }
      return ParamValue::of_duration(*v);
    }
    case ParamType::kChoice: {
      const std::string t(trim(text));
      for (const auto& c : spec.choices) {
        if (c == t) return ParamValue::of_choice(c);
      }
      std::string known;
      for (const auto& c : spec.choices) known += (known.empty() ? "" : ", ") + c;
      return Error{kInvalidArgument, "must be one of " + known + ", got '" + t + "'"};
    }
  }
  return Error{kInvalidArgument, "unsupported parameter type"};
}

ParamSpec make_spec(std::string name, ParamType type, std::string default_value, std::string help, double min,
                    double max) {
  ParamSpec s;
  s.name = std::move(name);
  s.type = type;
  s.default_value = std::move(default_value);
  s.help = std::move(help);
  s.min = min;
  s.max = max;
  return s;
}

}  // namespace

ParamSpec int_param(std::string name, std::string default_value, std::string help, double min, double max) {
  return make_spec(std::move(name), ParamType::kInt, std::move(default_value), std::move(help), min, max);
}

ParamSpec double_param(std::string name, std::string default_value, std::string help, double min, double max) {
  return make_spec(std::move(name), ParamType::kDouble, std::move(default_value), std::move(help), min, max);
}

ParamSpec bool_param(std::string name, std::string default_value, std::string help) {
  return make_spec(std::move(name), ParamType::kBool, std::move(default_value), std::move(help),
                   -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity());
}

ParamSpec duration_param(std::string name, std::string default_value, std::string help, double min, double max) {
  return make_spec(std::move(name), ParamType::kDuration, std::move(default_value), std::move(help), min, max);
}

ParamSpec choice_param(std::string name, std::string default_value, std::string help,
                       std::vector<std::string> choices) {
  ParamSpec s = make_spec(std::move(name), ParamType::kChoice, std::move(default_value), std::move(help),
                          -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity());
  s.choices = std::move(choices);
  return s;
}

Result<std::int64_t> parse_int(std::string_view text) {
  const auto t = trim(text);
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || end != t.data() + t.size()) {
    return Error{kInvalidArgument, "expected an integer, got '" + std::string(text) + "'"};
  }
  return v;
}

Result<double> parse_double(std::string_view text) {
  const auto t = trim(text);
  double v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || end != t.data() + t.size() || !std::isfinite(v)) {
    return Error{kInvalidArgument, "expected a number, got '" + std::string(text) + "'"};
  }
  return v;
}

Result<bool> parse_bool(std::string_view text) {
  const auto t = lower(trim(text));
  if (t == "true" || t == "yes" || t == "on" || t == "1") return true;
  if (t == "false" || t == "no" || t == "off" || t == "0") return false;
  return Error{kInvalidArgument, "expected true or false, got '" + std::string(text) + "'"};
}

Result<Nanos> parse_duration(std::string_view text) {
  const auto t = trim(text);
  double v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || !std::isfinite(v)) {
    return Error{kInvalidArgument, "expected a duration such as 10s or 250ms, got '" + std::string(text) + "'"};
  }
  const std::string_view unit = trim(std::string_view(end, static_cast<std::size_t>(t.data() + t.size() - end)));
  double scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1e9;
  } else if (unit == "ms") {
    scale = 1e6;
  } else if (unit == "us") {
    scale = 1e3;
  } else if (unit == "ns") {
    scale = 1;
  } else if (unit == "m") {
    scale = 60e9;
  } else {
    return Error{kInvalidArgument, "unknown duration unit '" + std::string(unit) + "' in '" + std::string(text) +
                                       "' (use ns, us, ms, s or m)"};
  }
  const double ns = v * scale;
  if (std::fabs(ns) > 9.0e18) return Error{kInvalidArgument, "duration out of range: '" + std::string(text) + "'"};
  return static_cast<Nanos>(std::llround(ns));
}

std::int64_t ParsedParams::get_int(std::string_view name) const { return find(name, ParamType::kInt).int_value; }

double ParsedParams::get_double(std::string_view name) const { return find(name, ParamType::kDouble).double_value; }

bool ParsedParams::get_bool(std::string_view name) const { return find(name, ParamType::kBool).bool_value; }

Nanos ParsedParams::get_duration(std::string_view name) const { return find(name, ParamType::kDuration).duration; }

const std::string& ParsedParams::get_choice(std::string_view name) const {
  return find(name, ParamType::kChoice).choice;
}

void ParsedParams::set(std::string name, ParamValue value) {
  for (auto& [n, v] : values_) {
    if (n == name) {
      v = std::move(value);
      return;
    }
  }
  values_.emplace_back(std::move(name), std::move(value));
}

const ParamValue& ParsedParams::find(std::string_view name, ParamType type) const {
  for (const auto& [n, v] : values_) {
    if (n != name) continue;
    if (v.type != type) throw std::logic_error("policy parameter " + std::string(name) + " read with the wrong type");
    return v;
  }
  throw std::logic_error("undeclared policy parameter " + std::string(name));
}

Result<ParsedParams> parse_params(std::string_view policy, std::span<const ParamSpec> specs,
                                  const PolicyParams& given) {
  for (const auto& [name, value] : given) {
    bool known = false;
    for (const auto& s : specs) known = known || s.name == name;
    if (!known) {
      std::string names;
      for (const auto& s : specs) names += (names.empty() ? "" : ", ") + s.name;
      return bad(
          policy, name,
          names.empty() ? "unknown parameter (this policy takes none)" : "unknown parameter (known: " + names + ")");
    }
  }
  ParsedParams out;
  for (const auto& spec : specs) {
    const auto it = given.find(spec.name);
    const bool from_config = it != given.end();
    auto value = parse_value(spec, from_config ? std::string_view(it->second) : std::string_view(spec.default_value));
    if (!value) {
      if (!from_config) throw std::logic_error("bad default for " + std::string(policy) + "." + spec.name);
      return bad(policy, spec.name, value.error().message);
    }
    out.set(spec.name, std::move(*value));
  }
  return out;
}

}  // namespace kvroute::routing
