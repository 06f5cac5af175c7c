#include "admin/prom_writer.h"

#include <fmt/format.h>

#include <cmath>

namespace kvroute::admin {

void append_prom_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    // Whole numbers in full ("1000000", not "1e+06": counts read better so); others in the shortest
    // form that reads back to the same double.
    const bool whole = v == std::trunc(v) && std::fabs(v) < 1e15;
    const auto r = whole ? fmt::format_to_n(buf, sizeof buf, "{:.0f}", v) : fmt::format_to_n(buf, sizeof buf, "{}", v);
    out.append(buf, r.out);
  }
}

void append_prom_label_value(std::string& out, std::string_view value) {
  for (const char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void PromWriter::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  for (const char c : help) {  // HELP escapes only backslash and newline
    if (c == '\\') {
      out_ += "\\\\";
    } else if (c == '\n') {
      out_ += "\\n";
    } else {
      out_ += c;
    }
  }
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void PromWriter::begin_sample(std::string_view name, std::span<const PromLabel> labels) {
  out_ += name;
  bool open = false;
  for (const PromLabel& l : labels) {
    if (l.value.empty()) continue;
    out_ += open ? ',' : '{';
    open = true;
    out_ += l.name;
    out_ += "=\"";
    append_prom_label_value(out_, l.value);
    out_ += '"';
  }
  if (open) out_ += '}';
  out_ += ' ';
}

void PromWriter::sample(std::string_view name, std::span<const PromLabel> labels, double value) {
  begin_sample(name, labels);
  append_prom_double(out_, value);
  out_ += '\n';
}

void PromWriter::sample(std::string_view name, std::span<const PromLabel> labels, std::uint64_t value) {
  begin_sample(name, labels);
  char buf[24];
  const auto r = fmt::format_to_n(buf, sizeof buf, "{}", value);
  out_.append(buf, r.out);
  out_ += '\n';
}

}  // namespace kvroute::admin
