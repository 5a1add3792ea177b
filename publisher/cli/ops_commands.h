// The fleet-operation subcommands of `modelcast` (rollout, rollback, promote, key,
// report): option parsing and output only; the work is in publisher/rollout.h,
// rollback.h, promote.h, keyset.h, report.h.
// Kept apart from main.cc so each command's wiring sits in one place.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>

namespace modelcast {

class OpsCommands {
 public:
  // Registers the subcommands on `app`.
  explicit OpsCommands(CLI::App& app);
  ~OpsCommands();
  // The exit code when one of these subcommands was parsed, else -1.
  int run();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace modelcast
