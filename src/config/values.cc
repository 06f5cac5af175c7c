#include "config/values.h"

#include <arpa/inet.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <system_error>

namespace kvroute::config {
namespace {

Error invalid(std::string message) { return Error{EINVAL, std::move(message)}; }

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_digit(c)) return false;
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// A decimal number without sign or exponent: digits, optionally '.' and more digits.
bool is_plain_decimal(std::string_view s) {
  std::size_t i = 0;
  std::size_t digits = 0;
  while (i < s.size() && is_digit(s[i])) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_digit(s[i])) ++i, ++digits;
  }
  return digits > 0 && i == s.size();
}

constexpr std::string_view kDurationHint =
    R"(must be a duration such as "250ms", "2s", "1m30s" or a number of seconds)";

struct DurationUnit {
  std::string_view suffix;
  Nanos nanos;
};
constexpr std::array<DurationUnit, 6> kDurationUnits = {{
    {"h", 3600 * kNanosPerSecond},
    {"m", 60 * kNanosPerSecond},
    {"s", kNanosPerSecond},
    {"ms", kNanosPerMilli},
    {"us", kNanosPerMicro},
    {"ns", 1},
}};

// Host part of an address: a DNS name, an IPv4 address, or (bracketed in the text) IPv6.
Result<void> check_host(std::string_view host, bool bracketed) {
  if (host.empty()) return invalid("host is missing");
  const std::string h(host);
  if (bracketed) {
    in6_addr a6{};
    if (inet_pton(AF_INET6, h.c_str(), &a6) != 1) return invalid("\"" + h + "\" is not an IPv6 address");
    return {};
  }
  bool numeric = true;
  for (char c : host) {
    if (!is_digit(c) && c != '.') numeric = false;
  }
  if (numeric) {
    in_addr a4{};
    if (inet_pton(AF_INET, h.c_str(), &a4) != 1) return invalid("\"" + h + "\" is not an IPv4 address");
    return {};
  }
  for (char c : host) {
    if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '.' && c != '_') {
      return invalid("\"" + h + "\" is not a valid host name");
    }
  }
  return {};
}

struct ParsedAuthority {
  std::string host;
  bool has_port = false;
  std::uint32_t port = 0;
};

// "host", "host:port", "[v6]", "[v6]:port".
Result<ParsedAuthority> parse_authority(std::string_view text) {
  ParsedAuthority out;
  std::string_view host;
  std::string_view rest;  // ":port" or ""
  bool bracketed = false;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return invalid("missing ']' after the IPv6 address");
    host = text.substr(1, close - 1);
    rest = text.substr(close + 1);
    bracketed = true;
    if (!rest.empty() && rest.front() != ':') return invalid("unexpected text after ']'");
  } else {
    const auto colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
      return invalid("an IPv6 address needs brackets, as in [::1]:8080");
    }
    host = text.substr(0, colon == std::string_view::npos ? text.size() : colon);
    rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon);
  }
  if (auto ok = check_host(host, bracketed); !ok) return ok.error();
  out.host = to_lower(host);
  if (!rest.empty()) {
    const auto digits = rest.substr(1);
    if (digits.empty()) return invalid("port is missing after ':'");
    if (!all_digits(digits)) return invalid("port must be a number");
    if (digits.size() > 5) return invalid("port out of range");
    std::uint32_t port = 0;
    std::from_chars(digits.data(), digits.data() + digits.size(), port);
    out.has_port = true;
    out.port = port;
  }
  return out;
}

}  // namespace

Result<Nanos> parse_duration(std::string_view text) {
  if (text.empty()) return invalid(std::string(kDurationHint));
  if (text.front() == '-') return invalid("must not be negative");
  double total_nanos = 0;
  if (is_plain_decimal(text)) {
    double seconds = 0;
    std::from_chars(text.data(), text.data() + text.size(), seconds);
    total_nanos = seconds * static_cast<double>(kNanosPerSecond);
  } else {
    std::string_view rest = text;
    while (!rest.empty()) {
      std::size_t n = 0;
      while (n < rest.size() && (is_digit(rest[n]) || rest[n] == '.')) ++n;
      const std::string_view number = rest.substr(0, n);
      std::size_t u = n;
      while (u < rest.size() && is_alpha(rest[u])) ++u;
      const std::string_view suffix = rest.substr(n, u - n);
      if (!is_plain_decimal(number) || suffix.empty()) return invalid(std::string(kDurationHint));
      const DurationUnit* unit = nullptr;
      for (const auto& candidate : kDurationUnits) {
        if (candidate.suffix == suffix) unit = &candidate;
      }
      if (unit == nullptr) {
        return invalid("unknown duration unit \"" + std::string(suffix) + "\" (use ms, s, m or h)");
      }
      double value = 0;
      std::from_chars(number.data(), number.data() + number.size(), value);
      total_nanos += value * static_cast<double>(unit->nanos);
      rest.remove_prefix(u);
    }
  }
  if (!(total_nanos <= static_cast<double>(kMaxDuration))) return invalid("is too long (at most 8760h, a year)");
  return static_cast<Nanos>(std::llround(total_nanos));
}

std::string format_duration(Nanos d) {
  if (d == 0) return "0s";
  std::string out;
  if (d < 0) {
    out += '-';
    d = -d;
  }
  for (const auto& unit : kDurationUnits) {
    if (d >= unit.nanos) {
      out += std::to_string(d / unit.nanos);
      out += unit.suffix;
      d %= unit.nanos;
    }
  }
  return out;
}

Result<std::uint64_t> parse_size(std::string_view text) {
  constexpr std::string_view kHint = R"(must be a size such as "16MiB", "512KiB" or a number of bytes)";
  std::size_t n = 0;
  while (n < text.size() && is_digit(text[n])) ++n;
  if (n == 0) return invalid(text.starts_with('-') ? "must not be negative" : std::string(kHint));
  std::string_view suffix = text.substr(n);
  if (suffix.starts_with(' ')) suffix.remove_prefix(1);
  std::uint64_t multiplier = 0;
  if (suffix.empty() || suffix == "B") {
    multiplier = 1;
  } else if (iequals(suffix, "KiB")) {
    multiplier = kKiB;
  } else if (iequals(suffix, "MiB")) {
    multiplier = kMiB;
  } else if (iequals(suffix, "GiB")) {
    multiplier = kGiB;
  } else if (iequals(suffix, "K") || iequals(suffix, "KB") || iequals(suffix, "M") || iequals(suffix, "MB") ||
             iequals(suffix, "G") || iequals(suffix, "GB")) {
    return invalid("unit \"" + std::string(suffix) +
                   "\" is ambiguous (1000 or 1024?): write KiB, MiB or GiB, or a number of bytes");
  } else {
    return invalid(std::string(kHint));
  }
  std::uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + n, value);
  if (ec != std::errc{} || value > UINT64_MAX / multiplier) return invalid("is too large");
  return value * multiplier;
}

Result<std::int64_t> parse_integer(std::string_view text) {
  std::int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ptr != text.data() + text.size() || (ec != std::errc{} && ec != std::errc::result_out_of_range)) {
    return invalid("must be a whole number");
  }
  if (ec == std::errc::result_out_of_range) return invalid("is out of range");
  return value;
}

Result<double> parse_number(std::string_view text) {
  double value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() || !std::isfinite(value)) {
    return invalid("must be a number");
  }
  return value;
}

Result<bool> parse_bool(std::string_view text) {
  if (iequals(text, "true")) return true;
  if (iequals(text, "false")) return false;
  if (iequals(text, "yes") || iequals(text, "no") || iequals(text, "on") || iequals(text, "off") ||
      iequals(text, "y") || iequals(text, "n")) {
    return invalid("must be true or false (YAML 1.1 yes/no/on/off are not accepted)");
  }
  return invalid("must be true or false");
}

std::string HostPort::to_string() const {
  std::string out;
  if (host.find(':') != std::string::npos) {
    out = "[" + host + "]";
  } else {
    out = host;
  }
  out += ':';
  out += std::to_string(port);
  return out;
}

Result<HostPort> parse_listen_address(std::string_view text) {
  if (text.empty()) return invalid("must be HOST:PORT, such as 127.0.0.1:8080");
  if (text.find(':') == std::string_view::npos) {
    return invalid("port is missing: write HOST:PORT, such as 127.0.0.1:8080");
  }
  auto authority = parse_authority(text);
  if (!authority) {
    if (authority.error().message == "host is missing") {
      return invalid("host is missing (write 0.0.0.0:PORT to listen on every interface)");
    }
    return authority.error();
  }
  if (!authority->has_port) return invalid("port is missing: write HOST:PORT, such as 127.0.0.1:8080");
  if (authority->port > 65535) return invalid("port out of range (0-65535)");
  return HostPort{std::move(authority->host), static_cast<std::uint16_t>(authority->port)};
}

Result<BackendConfig> parse_backend_url(std::string_view text) {
  const auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) return invalid("must be a URL such as http://10.0.0.5:8000");
  const auto scheme = text.substr(0, scheme_end);
  if (iequals(scheme, "https")) return invalid("https is not supported yet; use http://");
  if (!iequals(scheme, "http")) return invalid("scheme must be http");
  std::string_view rest = text.substr(scheme_end + 3);
  if (rest.find_first_of("?#") != std::string_view::npos) return invalid("must not contain a query or fragment");
  const auto slash = rest.find('/');
  const std::string_view authority_text = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (authority_text.find('@') != std::string_view::npos) {
    return invalid("user info is not supported (send credentials with headers.add)");
  }
  auto authority = parse_authority(authority_text);
  if (!authority) return authority.error();
  if (authority->has_port && (authority->port < 1 || authority->port > 65535)) {
    return invalid("port out of range (1-65535)");
  }
  for (char c : path) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
      return invalid("path must not contain spaces or control characters");
  }
  while (path.ends_with('/')) path.remove_suffix(1);

  BackendConfig backend;
  backend.host = std::move(authority->host);
  backend.port = authority->has_port ? static_cast<std::uint16_t>(authority->port) : 80;
  backend.base_path = std::string(path);
  const std::string host_port = HostPort{backend.host, backend.port}.to_string();
  backend.url = "http://" + host_port + backend.base_path;
  backend.name = host_port + backend.base_path;
  return backend;
}

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): start-up only
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Result<std::string> expand_env(std::string_view text, const EnvLookup& env) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (text.substr(i).starts_with("$${")) {
      out += "${";
      i += 3;
      continue;
    }
    if (!text.substr(i).starts_with("${")) {
      out += text[i++];
      continue;
    }
    const auto close = text.find('}', i + 2);
    if (close == std::string_view::npos) return invalid(R"(unterminated "${" (write "$${" for a literal "${"))");
    const std::string name(text.substr(i + 2, close - i - 2));
    bool valid = !name.empty() && !is_digit(name.front());
    for (char c : name) {
      if (!is_alpha(c) && !is_digit(c) && c != '_') valid = false;
    }
    if (!valid) return invalid("\"${" + name + "}\" is not a valid environment variable reference");
    auto value = env ? env(name) : std::nullopt;
    if (!value) return invalid("environment variable \"" + name + "\" is not set");
    out += *value;
    i = close + 1;
  }
  return out;
}

bool is_glob(std::string_view pattern) { return pattern.find_first_of("*?") != std::string_view::npos; }

bool glob_match(std::string_view pattern, std::string_view text) {
  // Classic two-pointer match: on a mismatch, let the most recent '*' swallow one more byte.
  // Only the latest star needs remembering, since an earlier one can never do better.
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos;
  std::size_t star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_t = t;
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++star_t;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool is_header_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    const bool token =
        is_alpha(c) || is_digit(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!token) return false;
  }
  return true;
}

std::string key_path_child(std::string_view parent, std::string_view key) {
  bool plain = !key.empty();
  for (char c : key) {
    if (!is_alpha(c) && !is_digit(c) && c != '_') plain = false;
  }
  std::string out(parent);
  if (plain) {
    if (!out.empty()) out += '.';
    out += key;
  } else {
    out += "[\"";
    out += key;
    out += "\"]";
  }
  return out;
}

std::string key_path_index(std::string_view parent, std::size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

}  // namespace kvroute::config
