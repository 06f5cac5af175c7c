#pragma once
// Policy registry: builds a pool's PolicyFactory from a policy name and its parameters. The config
// loader calls create() for every pool at start-up and on reload; a bad name or parameter is a
// config error reported with a message fit for the operator. Start-up code (control thread).

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "routing/policy.h"
#include "routing/policy_params.h"

namespace kvroute::routing {

using PolicyFactoryPtr = std::shared_ptr<const PolicyFactory>;

/// Builds a factory from validated parameters; may refuse combinations (code 22).
using PolicyBuilder = std::function<Result<PolicyFactoryPtr>(const ParsedParams&)>;

/// What a policy file registers: its name, a one-line summary, its parameters, its builder.
struct PolicyDescriptor {
  std::string name;
  std::string summary;
  std::vector<ParamSpec> params;
  PolicyBuilder build;
};

class PolicyRegistry {
 public:
  /// A registry holding every built-in policy (policies/builtin_policies.h).
  static PolicyRegistry with_builtin_policies();

  /// Start-up. Adds a policy; throws std::invalid_argument for an empty or already registered name.
  void add(PolicyDescriptor descriptor);

  /// Control thread. Validates `params` against the policy's declarations and builds its factory.
  /// Errors (code 22): unknown policy (listing the known ones), unknown parameter, bad value.
  Result<PolicyFactoryPtr> create(std::string_view name, const PolicyParams& params = {}) const;

  /// The descriptor registered under `name`, or nullptr.
  const PolicyDescriptor* find(std::string_view name) const;

  /// Registered names, in registration order.
  std::vector<std::string_view> names() const;

 private:
  std::vector<PolicyDescriptor> policies_;
};

}  // namespace kvroute::routing
