#pragma once
// A PolicyFactory for policies whose per-worker instance is built from a small config struct alone.

#include <memory>
#include <string_view>

#include "routing/policy.h"

namespace kvroute::routing {

template <class PolicyT, class ConfigT>
class SimplePolicyFactory final : public PolicyFactory {
 public:
  SimplePolicyFactory(std::string_view name, ConfigT config, bool reads_metrics = false)
      : name_(name), config_(config), reads_metrics_(reads_metrics) {}
  std::string_view name() const override { return name_; }
  std::unique_ptr<Policy> create() const override { return std::make_unique<PolicyT>(config_); }
  bool reads_backend_metrics() const override { return reads_metrics_; }

 private:
  std::string_view name_;  // points at a string literal
  ConfigT config_;
  bool reads_metrics_;
};

}  // namespace kvroute::routing
