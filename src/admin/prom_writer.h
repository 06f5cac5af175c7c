#pragma once
// Writes the Prometheus text exposition format 0.0.4 (what a Prometheus server scrapes): one
// family at a time, "# HELP" and "# TYPE" lines, then its samples, each `name{labels} value`.
// Label values and help texts are escaped as the format requires; numbers are written so that
// Prometheus reads them back exactly (integers in full, floats in their shortest round-trip form,
// NaN, +Inf, -Inf).
//
// Pure: any thread; appends to a caller's string (reused between renders, so a render allocates
// only while the page grows past its largest size so far).

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace kvroute::admin {

struct PromLabel {
  std::string_view name;
  std::string_view value;
};

/// Appends v as the format reads it: "3", "1000000", "0.25", "1e-06", "NaN", "+Inf", "-Inf" ("-0" for -0.0).
void append_prom_double(std::string& out, double v);

/// Appends a label value with \\, \" and \n escaped.
void append_prom_label_value(std::string& out, std::string_view value);

class PromWriter {
 public:
  explicit PromWriter(std::string& out) : out_(out) {}

  /// Starts a family: its # HELP (help escaped) and # TYPE lines. type: counter, gauge, summary,
  /// histogram or untyped. Every sample of the family must follow before the next family starts.
  void family(std::string_view name, std::string_view type, std::string_view help);

  /// One sample line. Labels with an empty value are left out (Prometheus treats them as absent).
  void sample(std::string_view name, std::span<const PromLabel> labels, double value);
  void sample(std::string_view name, std::span<const PromLabel> labels, std::uint64_t value);
  void sample(std::string_view name, std::initializer_list<PromLabel> labels, double value) {
    sample(name, std::span<const PromLabel>(labels.begin(), labels.size()), value);
  }
  void sample(std::string_view name, std::initializer_list<PromLabel> labels, std::uint64_t value) {
    sample(name, std::span<const PromLabel>(labels.begin(), labels.size()), value);
  }

 private:
  void begin_sample(std::string_view name, std::span<const PromLabel> labels);
  std::string& out_;
};

}  // namespace kvroute::admin
