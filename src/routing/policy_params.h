#pragma once
// Typed, validated policy parameters. The config loader hands the registry a string -> string map
// (YAML scalars as written); each policy declares its parameters as ParamSpecs, and the registry
// parses and range-checks them before the policy's builder sees them, so every policy reports bad
// input the same way ("policy 'ewma': parameter 'decay_time': ...").
// Start-up code only (control thread); nothing here runs per request.

#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "common/time_source.h"

namespace kvroute::routing {

/// Parameters as written in the config: name -> value text.
using PolicyParams = std::map<std::string, std::string, std::less<>>;

enum class ParamType : std::uint8_t {
  kInt,       ///< decimal integer
  kDouble,    ///< decimal number
  kBool,      ///< true/false, yes/no, on/off, 1/0
  kDuration,  ///< number with unit ns, us, ms, s, m (a bare number means seconds)
  kChoice,    ///< one of `choices`
};

/// Declaration of one parameter: its type, default (as text, parsed like user input) and bounds.
struct ParamSpec {
  std::string name;
  ParamType type = ParamType::kInt;
  std::string default_value;
  std::string help;                                       ///< one line, for docs and error messages
  double min = -std::numeric_limits<double>::infinity();  ///< inclusive; durations in seconds
  double max = std::numeric_limits<double>::infinity();   ///< inclusive; durations in seconds
  std::vector<std::string> choices;                       ///< kChoice only
};

/// Shorthands for policy files' parameter tables.
ParamSpec int_param(std::string name, std::string default_value, std::string help, double min, double max);
ParamSpec double_param(std::string name, std::string default_value, std::string help, double min, double max);
ParamSpec bool_param(std::string name, std::string default_value, std::string help);
/// min and max in seconds.
ParamSpec duration_param(std::string name, std::string default_value, std::string help, double min, double max);
ParamSpec choice_param(std::string name, std::string default_value, std::string help, std::vector<std::string> choices);

/// One parsed value: `type` says which member holds it. (A plain struct rather than a std::variant
/// holding a std::string, which trips GCC 12's -Wmaybe-uninitialized at -O2.)
struct ParamValue {
  ParamType type = ParamType::kInt;
  std::int64_t int_value = 0;
  double double_value = 0.0;
  bool bool_value = false;
  Nanos duration = 0;
  std::string choice;

  static ParamValue of_int(std::int64_t v) {
    ParamValue p;
    p.type = ParamType::kInt;
    p.int_value = v;
    return p;
  }
  static ParamValue of_double(double v) {
    ParamValue p;
    p.type = ParamType::kDouble;
    p.double_value = v;
    return p;
  }
  static ParamValue of_bool(bool v) {
    ParamValue p;
    p.type = ParamType::kBool;
    p.bool_value = v;
    return p;
  }
  static ParamValue of_duration(Nanos v) {
    ParamValue p;
    p.type = ParamType::kDuration;
    p.duration = v;
    return p;
  }
  static ParamValue of_choice(std::string v) {
    ParamValue p;
    p.type = ParamType::kChoice;
    p.choice = std::move(v);
    return p;
  }
};

/// Parsed parameters: every declared parameter, with its default when the config did not set it.
/// Getters throw std::logic_error for an undeclared name or a wrong type (a bug in the policy, not
/// bad input: input errors were reported by parse_params).
class ParsedParams {
 public:
  std::int64_t get_int(std::string_view name) const;
  double get_double(std::string_view name) const;
  bool get_bool(std::string_view name) const;
  Nanos get_duration(std::string_view name) const;
  const std::string& get_choice(std::string_view name) const;

  /// Sets (or replaces) a value; used by parse_params and by tests.
  void set(std::string name, ParamValue value);

 private:
  const ParamValue& find(std::string_view name, ParamType type) const;
  std::vector<std::pair<std::string, ParamValue>> values_;
};

/// Parses `given` against `specs` for policy `policy`. Errors (code 22) name the policy, the
/// parameter and the problem: unknown parameter (listing the known ones), unparsable value, value
/// out of range, not one of the choices.
Result<ParsedParams> parse_params(std::string_view policy, std::span<const ParamSpec> specs, const PolicyParams& given);

/// Value parsers, exposed for the config module and tests. Whole-string matches only.
Result<std::int64_t> parse_int(std::string_view text);
Result<double> parse_double(std::string_view text);
Result<bool> parse_bool(std::string_view text);
Result<Nanos> parse_duration(std::string_view text);

}  // namespace kvroute::routing
