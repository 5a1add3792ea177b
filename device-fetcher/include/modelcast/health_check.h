// The app's check of a new version before it goes live.
//
// The fetcher calls it after the version folder is built and verified and before
// `current` moves. A failing check keeps the old version active, ends the update as
// `fallback` with reason "health-check", and the fetcher remembers the failing manifest
// (SHA-256 of its bytes) so it does not download that version again; a different
// manifest (a new version, or the same one re-signed) is tried normally.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace modelcast {

// Returns true when the model in `version_dir` works; on false, `why` may say what failed.
// Runs on the updating thread, which it blocks: an in-process check must bound its own
// time (a command run by command_health_check is killed at its timeout).
using HealthCheck = std::function<bool(const std::string& version_dir, uint64_t version, std::string* why)>;

// A check that runs `/bin/sh -c COMMAND` with the version folder as $1 and in the
// environment as MODELCAST_VERSION_DIR (the version number in MODELCAST_VERSION), its
// stdout sent to stderr. Exit status 0 passes. A command still running after timeout_ms
// is killed with its whole process group and counts as failed.
HealthCheck command_health_check(std::string command, int timeout_ms);

}  // namespace modelcast
