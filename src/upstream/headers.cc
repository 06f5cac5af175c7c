#include "upstream/headers.h"

#include <charconv>

namespace kvroute::upstream {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ", 2);
  out.append(value);
  out.append("\r\n", 2);
}

void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<std::size_t>(end - buf));
}

bool stripped_or_replaced(const config::HeaderRules* rules, std::string_view name) {
  if (rules == nullptr) return false;
  for (const auto& s : rules->strip) {
    if (iequals(s, name)) return true;
  }
  for (const auto& a : rules->add) {
    if (iequals(a.name, name)) return true;
  }
  return false;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

HeaderKind classify_header(std::string_view name) {
  // Dispatch on length first: one or two comparisons per field.
  switch (name.size()) {
    case 2:
      if (iequals(name, "te")) return HeaderKind::kTe;
      break;
    case 4:
      if (iequals(name, "host")) return HeaderKind::kHost;
      break;
    case 6:
      if (iequals(name, "expect")) return HeaderKind::kExpect;
      break;
    case 7:
      if (iequals(name, "upgrade")) return HeaderKind::kUpgrade;
      if (iequals(name, "trailer")) return HeaderKind::kTrailer;
      break;
    case 10:
      if (iequals(name, "connection")) return HeaderKind::kConnection;
      if (iequals(name, "keep-alive")) return HeaderKind::kKeepAlive;
      break;
    case 12:
      if (iequals(name, "content-type")) return HeaderKind::kContentType;
      if (iequals(name, "x-request-id")) return HeaderKind::kXRequestId;
      if (iequals(name, "x-session-id")) return HeaderKind::kXSessionId;
      break;
    case 14:
      if (iequals(name, "content-length")) return HeaderKind::kContentLength;
      break;
    case 15:
      if (iequals(name, "x-forwarded-for")) return HeaderKind::kXForwardedFor;
      break;
    case 16:
      if (iequals(name, "proxy-connection")) return HeaderKind::kProxyConnection;
      if (iequals(name, "x-kvroute-backend")) return HeaderKind::kXKvrouteBackend;
      break;
    case 17:
      if (iequals(name, "transfer-encoding")) return HeaderKind::kTransferEncoding;
      break;
    default:
      break;
  }
  return HeaderKind::kOther;
}

bool is_hop_by_hop(HeaderKind kind) {
  switch (kind) {
    case HeaderKind::kConnection:
    case HeaderKind::kKeepAlive:
    case HeaderKind::kProxyConnection:
    case HeaderKind::kTe:
    case HeaderKind::kTrailer:
    case HeaderKind::kTransferEncoding:
    case HeaderKind::kUpgrade:
      return true;
    default:
      return false;
  }
}

bool token_list_contains(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

void HeaderBlock::clear() {
  storage_.clear();
  entries_.clear();
  has_connection_ = false;
}

void HeaderBlock::add(std::string_view name, std::string_view value, HeaderKind kind) {
  Entry e;
  e.name_offset = static_cast<std::uint32_t>(storage_.size());
  e.name_length = static_cast<std::uint32_t>(name.size());
  storage_.append(name);
  e.value_offset = static_cast<std::uint32_t>(storage_.size());
  e.value_length = static_cast<std::uint32_t>(value.size());
  storage_.append(value);
  e.kind = kind;
  if (e.kind == HeaderKind::kConnection) has_connection_ = true;
  entries_.push_back(e);
}

std::optional<std::string_view> HeaderBlock::get(HeaderKind kind) const {
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].kind == kind) return (*this)[i].value;
  }
  return std::nullopt;
}

std::optional<std::string_view> HeaderBlock::get(std::string_view name) const {
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const Field f = (*this)[i];
    if (iequals(f.name, name)) return f.value;
  }
  return std::nullopt;
}

bool HeaderBlock::listed_in_connection(std::string_view name) const {
  if (!has_connection_) return false;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].kind != HeaderKind::kConnection) continue;
    if (token_list_contains((*this)[i].value, name)) return true;
  }
  return false;
}

bool HeaderBlock::is_hop_field(std::size_t i) const {
  const Field f = (*this)[i];
  if (is_hop_by_hop(f.kind)) return true;
  return has_connection_ && listed_in_connection(f.name);
}

void append_upstream_target(std::string_view base_path, std::string_view target, std::string& out) {
  out.append(base_path);
  if (target.empty()) {
    out.push_back('/');
  } else {
    out.append(target);
  }
}

void append_upstream_request_head(const UpstreamRequestHead& head, std::string& out) {
  out.append(head.method);
  out.push_back(' ');
  append_upstream_target(head.base_path, head.target, out);
  out.append(" HTTP/1.1\r\n", 11);
  append_field(out, "Host", head.host);

  std::size_t xff_fields = 0;
  if (head.client_headers != nullptr) {
    const HeaderBlock& h = *head.client_headers;
    for (std::size_t i = 0; i < h.size(); ++i) {
      const HeaderBlock::Field f = h[i];
      switch (f.kind) {
        case HeaderKind::kHost:
        case HeaderKind::kContentLength:
        case HeaderKind::kExpect:
          continue;
        case HeaderKind::kXForwardedFor:
          ++xff_fields;
          continue;  // written below, joined
        case HeaderKind::kXRequestId:
          if (!head.request_id.empty()) continue;
          break;
        default:
          break;
      }
      if (h.is_hop_field(i) || stripped_or_replaced(head.rules, f.name)) continue;
      append_field(out, f.name, f.value);
    }
    // X-Forwarded-For: the client's chain (several fields joined in order), then the client.
    const bool xff_stripped = stripped_or_replaced(head.rules, "x-forwarded-for");
    if (!xff_stripped && (xff_fields > 0 || !head.client_address.empty())) {
      out.append("X-Forwarded-For: ", 17);
      bool first = true;
      for (std::size_t i = 0; i < h.size() && xff_fields > 0; ++i) {
        const HeaderBlock::Field f = h[i];
        if (f.kind != HeaderKind::kXForwardedFor) continue;
        const std::string_view v = trim(f.value);
        if (v.empty()) continue;
        if (!first) out.append(", ", 2);
        out.append(v);
        first = false;
      }
      if (!head.client_address.empty()) {
        if (!first) out.append(", ", 2);
        out.append(head.client_address);
      }
      out.append("\r\n", 2);
    }
  } else if (!head.client_address.empty() && !stripped_or_replaced(head.rules, "x-forwarded-for")) {
    append_field(out, "X-Forwarded-For", head.client_address);
  }
  if (!head.request_id.empty()) append_field(out, "x-request-id", head.request_id);
  if (head.rules != nullptr) {
    for (const auto& a : head.rules->add) append_field(out, a.name, a.value);
  }
  if (head.content_length) {
    out.append("Content-Length: ", 16);
    append_number(out, *head.content_length);
    out.append("\r\n", 2);
  }
  out.append("\r\n", 2);
}

}  // namespace kvroute::upstream
