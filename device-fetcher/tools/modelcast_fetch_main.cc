// modelcast-fetch: the device fetcher as a command (DESIGN.md "Command-line contract").
// Exit codes: 0 a usable model is active, 3 none is, 2 usage, 1 any other failure.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "modelcast/cache_admin.h"
#include "modelcast/command_names.h"
#include "modelcast/fetcher.h"
#include "modelcast/names.h"
#include "modelcast/utf8.h"
#include "cancel_on_signal.h"
#include "progress_line.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNoModel = 3;

// With --json every error is also one JSON object on stdout, so a script reading stdout
// always gets JSON; the human line stays on stderr.
bool g_json = false;

// One JSON object on a line; bytes that are not UTF-8 become U+FFFD instead of throwing.
void print_json(const modelcast::Json& j) {
  std::cout << j.dump(-1, ' ', false, modelcast::Json::error_handler_t::replace) << "\n";
}

const char* exit_kind(int code) {
  switch (code) {
    case kExitUsage: return "usage";
    case kExitNoModel: return "no-model";
    default: return "failure";
  }
}

int fail(int code, const std::string& message) {
  std::cerr << "error: " << modelcast::printable_text(message) << "\n";
  if (g_json) {
    modelcast::Json out = {{"error", {{"message", message}, {"kind", exit_kind(code)}, {"exit_code", code}}}};
    print_json(out);
  }
  return code;
}

modelcast::Json files_json(const modelcast::OpenedModel& m) {
  modelcast::Json files = modelcast::Json::array();
  for (const auto& f : m.files)
    files.push_back({{"path", f.path}, {"full_path", f.full_path}, {"sha256", f.sha256}, {"size", f.size}});
  return files;
}

int run_update(const modelcast::FetcherOptions& base, const std::vector<std::string>& pubkeys, const std::string& model,
               bool json, bool quiet) {
  modelcast::FetcherOptions options = base;
  for (const auto& path : pubkeys) {
    auto key = modelcast::PublicKey::from_pem_file(path);
    if (!key.ok()) return fail(kExitFailure, key.status().message());
    options.trusted_keys.push_back(std::move(key).value());
  }
  modelcast::ProgressLine bar;
  if (!quiet && ::isatty(2)) options.progress = [&bar](const modelcast::Progress& p) { return bar(p); };
  auto fetcher = modelcast::Fetcher::create(std::move(options));
  if (!fetcher.ok()) {
    int code = fetcher.status().code() == modelcast::StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
    return fail(code, fetcher.status().message());
  }
  modelcast::UpdateResult r;
  {
    modelcast::CancelOnSignal cancel_on_ctrl_c(fetcher->get());
    r = (*fetcher)->update(model);
  }
  bar.done();
  if (json) {
    modelcast::Json out = {{"status", modelcast::update_status_name(r.status)},
                           {"model", model},
                           {"version", r.version ? modelcast::Json(r.version) : modelcast::Json(nullptr)},
                           {"path", r.path.empty() ? modelcast::Json(nullptr) : modelcast::Json(r.path)},
                           {"offered_version", r.offered_version ? modelcast::Json(r.offered_version) : modelcast::Json(nullptr)},
                           {"not_modified", r.not_modified},
                           {"bytes_downloaded", r.bytes_downloaded},
                           {"manifest_format", r.manifest_format},
                           {"wire_bytes", r.wire_bytes},
                           {"files_downloaded", r.files_downloaded},
                           {"files_reused", r.files_reused},
                           {"bytes_needed", r.bytes_needed},
                           {"retries", r.retries}};
    modelcast::Json files = modelcast::Json::array();
    for (const auto& f : r.files) {
      modelcast::Json j = {{"path", f.path}, {"how", f.how}, {"wire_bytes", f.wire_bytes}};
      if (!f.delta_fallback.empty()) j["delta_fallback"] = f.delta_fallback;
      files.push_back(std::move(j));
    }
    out["files"] = std::move(files);
    if (!r.reason.empty()) {
      out["reason"] = r.reason;
      out["message"] = r.message;
    }
    if (r.retry_after_s > 0) out["retry_after_s"] = r.retry_after_s;
    print_json(out);
  } else {
    std::cout << modelcast::update_status_name(r.status) << ": " << model;
    if (r.version) std::cout << " v" << r.version << " " << r.path;
    std::cout << "\n";
  }
  if (!r.reason.empty() && !quiet) std::cerr << r.reason << ": " << r.message << "\n";
  return r.status == modelcast::UpdateStatus::kNone ? kExitNoModel : kExitOk;
}

int run_open(const std::string& cache, const std::string& model, bool verify, bool json) {
  modelcast::OpenOptions oo;
  oo.verify_hashes = verify;
  auto opened = modelcast::open_cached_model(cache, model, oo);
  if (!opened.ok()) {
    if (opened.status().code() == modelcast::StatusCode::kInvalidArgument) return fail(kExitUsage, opened.status().message());
    return fail(kExitNoModel, "no usable version of " + model + " in " + cache + ": " + opened.status().message());
  }
  const auto& m = opened.value();
  if (json) {
    modelcast::Json out = {{"model", model}, {"version", m.version}, {"path", m.path}, {"root", m.root}, {"files", files_json(m)},
                           {"config", m.config_json}};
    print_json(out);
  } else {
    std::cout << model << " v" << m.version << " " << m.path << "\n";
    if (m.root != m.path) std::cout << "  root " << m.root << "\n";
    for (const auto& f : m.files) std::cout << "  " << f.path << "  " << f.size << " bytes  " << f.sha256 << "\n";
  }
  return kExitOk;
}

int run_status(const std::string& cache, const std::string& model, bool json) {
  auto state = modelcast::read_model_state(cache, model);
  if (!state.ok()) {
    if (state.status().code() == modelcast::StatusCode::kNotFound) return fail(kExitNoModel, state.status().message());
    return fail(kExitUsage, state.status().message());
  }
  const auto& s = state.value();
  std::string path;
  if (s.active_version) {
    auto opened = modelcast::open_cached_model(cache, model);
    if (opened.ok()) path = opened->path;
  }
  if (json) {
    modelcast::Json out = {{"model", model},
                           {"version", s.active_version ? modelcast::Json(s.active_version) : modelcast::Json(nullptr)},
                           {"path", path.empty() ? modelcast::Json(nullptr) : modelcast::Json(path)},
                           {"highest_seen", s.highest_seen},
                           {"etag", s.etag},
                           {"last_check", s.last_check ? modelcast::Json(modelcast::format_timestamp(s.last_check))
                                                       : modelcast::Json(nullptr)},
                           {"last_status", s.last_status},
                           {"last_reason", s.last_reason},
                           {"last_message", s.last_message}};
    print_json(out);
  } else {
    std::cout << model << ": " << (s.active_version ? "v" + std::to_string(s.active_version) + " " + path : "no version")
              << "\n  highest seen v" << s.highest_seen << "\n";
    if (s.last_check)
      std::cout << "  last check " << modelcast::format_timestamp(s.last_check) << ": " << s.last_status
                << (s.last_reason.empty() ? "" : " (" + s.last_reason + ": " + s.last_message + ")") << "\n";
  }
  return s.active_version ? kExitOk : kExitNoModel;
}

int run_list(const std::string& cache, bool json) {
  auto listed = modelcast::list_cached_models(cache);
  if (!listed.ok()) return fail(kExitUsage, listed.status().message());
  if (json) {
    modelcast::Json out = modelcast::Json::array();
    for (const auto& m : listed.value())
      out.push_back({{"model", m.model},
                     {"version", m.active_version ? modelcast::Json(m.active_version) : modelcast::Json(nullptr)},
                     {"versions", m.versions},
                     {"bytes", m.bytes}});
    print_json(modelcast::Json{{"models", out}});
  } else {
    for (const auto& m : listed.value()) {
      std::cout << m.model << "  " << (m.active_version ? "v" + std::to_string(m.active_version) : "no version") << "  "
                << m.bytes << " bytes  (" << m.versions.size() << " kept)\n";
    }
  }
  return kExitOk;
}

int run_remove(const std::string& cache, const std::string& model, bool wait, bool json) {
  // Removing needs the cache to itself: by default it does not queue behind a running
  // update (which may take minutes) but says so at once.
  modelcast::Status s = modelcast::remove_cached_model(cache, model, wait);
  if (!s.ok()) {
    if (s.code() == modelcast::StatusCode::kNotFound) return fail(kExitNoModel, s.message());
    if (s.code() == modelcast::StatusCode::kBusy)
      return fail(kExitFailure, "busy: an update is running on " + cache + "; try again when it ends, or pass --wait");
    if (s.code() == modelcast::StatusCode::kInvalidArgument) return fail(kExitUsage, s.message());
    return fail(kExitFailure, s.message());
  }
  if (json) print_json(modelcast::Json{{"removed", model}});
  else std::cout << "removed " << model << "\n";
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--json") g_json = true;
  CLI::App app{"modelcast-fetch: keep a verified model version on this device"};
  app.require_subcommand(0, 1);
  bool show_version = false;
  app.add_flag("--version", show_version, "Print the version and exit");
  bool json = false;
  bool quiet = false;
  std::string cache, model;
  modelcast::FetcherOptions options;
  std::vector<std::string> pubkeys;
  std::string features;
  int keep = 2;
  int timeout_s = 30;
  std::string health_cmd, install_token;
  int health_timeout_s = 60;

  auto* update = app.add_subcommand("update", "Check the server and install a newer version when there is one");
  update->add_option("--url", options.base_url, "Base URL of the published tree (https://, http://, file:///)")->required();
  update->add_option("--cache", cache, "Cache folder on this device")->required();
  update->add_option("--model", model, "Model name")->required();
  update->add_option("--platform", options.platform, "Platform, e.g. android-arm64")->required();
  update->add_option("--channel", options.channel, "Channel")->capture_default_str();
  update->add_option("--pubkey", pubkeys, "Trusted public key (PEM); repeat for several")->required();
  update->add_option("--threshold", options.threshold, "Distinct trusted signatures required")->capture_default_str();
  update->add_option("--features", features, "Features this app supports, comma-separated");
  update->add_option("--app-version", options.app_version, "This app's version, e.g. 2.10.1");
  update->add_option("--os-version", options.os_version,
                     "This device's OS version on --platform, e.g. 17.4; a version needing a newer OS is refused");
  update->add_option("--device-id", options.device_id, "Stable device id for staged rollouts");
  update->add_option("--keep", keep, "Version folders to keep (active + previous)")->capture_default_str();
  update->add_option("--timeout", timeout_s, "Seconds before a stalled transfer is abandoned")->capture_default_str();
  update->add_option("--deadline-rate", options.deadline_rate_bytes,
                     "Bytes per second the update's deadline allows for: 60 s + the declared bytes at this rate")
      ->capture_default_str();
  update->add_option("--health-cmd", health_cmd, "Shell command that checks a new version's folder ($1) before it goes live");
  update->add_option("--health-timeout", health_timeout_s, "Seconds before a health command is killed and counts as failed")
      ->capture_default_str();
  update->add_option("--install-token", install_token,
                     "Random per-install token sent in the User-Agent (\"auto\": stored in the cache)");
  update->add_option("--max-cache-bytes", options.max_cache_bytes, "Most bytes the cache may hold (0: no limit)");
  update->add_option("--retries", options.max_retries, "Retries per request within this update")->capture_default_str();
  update->add_option("--retry-base-ms", options.retry_base_ms,
                     "Wait before retry n: random in [0, base * 2^n] ms, capped by --retry-max-ms (0: at once)")
      ->capture_default_str();
  update->add_option("--retry-max-ms", options.retry_max_ms, "Longest wait between retries")->capture_default_str();
  update->add_option("--next-check-base-ms", options.next_check_base_ms,
                     "After network failures in a row, retry_after_s grows from this (doubling, jittered)")
      ->capture_default_str();
  update->add_option("--next-check-max-ms", options.next_check_max_ms, "Cap of the suggested retry_after_s")
      ->capture_default_str();
  update->add_flag("--json", json, "Print the result as one JSON object");
  update->add_flag("--quiet", quiet, "No progress or reason on stderr");
  bool metered = false, deny_metered = false;
  uint64_t max_bytes = 0;
  update->add_flag("--metered", metered, "The network is metered now");
  update->add_flag("--deny-metered", deny_metered, "Download no model while the network is metered (deferred)");
  update->add_option("--max-bytes", max_bytes, "Defer an update that needs more bytes than this (0: no limit)");

  auto* open = app.add_subcommand("open", "Offline: the active version, its folder, files and config");
  bool verify = false;
  open->add_option("--cache", cache, "Cache folder")->required();
  open->add_option("--model", model, "Model name")->required();
  open->add_flag("--verify", verify, "Re-hash every file against the manifest");
  open->add_flag("--json", json, "Print the result as one JSON object");

  auto* status = app.add_subcommand("status", "Offline: active version and the last check's outcome");
  status->add_option("--cache", cache, "Cache folder")->required();
  status->add_option("--model", model, "Model name")->required();
  status->add_flag("--json", json, "Print the result as one JSON object");

  auto* list = app.add_subcommand("list", "Offline: the models in the cache, their versions and size");
  list->add_option("--cache", cache, "Cache folder")->required();
  list->add_flag("--json", json, "Print the result as one JSON object");

  auto* remove = app.add_subcommand("remove", "Remove a model from the cache (all its versions)");
  remove->add_option("--cache", cache, "Cache folder")->required();
  remove->add_option("--model", model, "Model name")->required();
  remove->add_flag("--json", json, "Print the result as one JSON object");
  bool remove_wait = false;
  remove->add_flag("--wait", remove_wait, "Wait for running updates instead of failing with busy");

  std::vector<std::string> commands;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) commands.push_back(sub->get_name());
  if (argc > 1 && modelcast::is_unknown_command(argv[1], commands))
    return fail(kExitUsage, modelcast::unknown_command_message(argv[1], commands));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail(kExitUsage, e.what());
  }

  if (show_version) {
    if (g_json) print_json(modelcast::Json{{"version", MODELCAST_VERSION}});
    else std::cout << "modelcast-fetch " << MODELCAST_VERSION << "\n";
    return kExitOk;
  }
  if (app.get_subcommands().empty()) return fail(kExitUsage, "a command is required (update, open, status, list, remove); see --help");

  try {
    if (update->parsed()) {
      options.cache_dir = cache;
      size_t start = 0;
      while (start <= features.size() && !features.empty()) {
        size_t comma = features.find(',', start);
        std::string f = features.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!f.empty()) options.features.push_back(f);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      if (keep < 1) return fail(kExitUsage, "--keep: must be at least 1");
      if (timeout_s < 1) return fail(kExitUsage, "--timeout: must be at least 1 second");
      if (options.deadline_rate_bytes < 1) return fail(kExitUsage, "--deadline-rate: must be at least 1 byte per second");
      if (options.max_retries < 0 || options.retry_base_ms < 0 || options.retry_max_ms < 0 ||
          options.next_check_base_ms < 0 || options.next_check_max_ms < 0)
        return fail(kExitUsage, "--retries and the --retry-*/--next-check-* times must not be negative");
      options.keep_versions = static_cast<size_t>(keep);
      options.low_speed_time_ms = timeout_s * 1000;
      options.connect_timeout_ms = std::min(timeout_s, 10) * 1000;
      options.manifest_timeout_ms = timeout_s * 1000;
      options.network_metered = metered;
      options.conditions.allow_metered = !deny_metered;
      options.conditions.max_update_bytes = max_bytes;
      if (health_timeout_s < 1) return fail(kExitUsage, "--health-timeout: must be at least 1 second");
      if (!health_cmd.empty()) options.health_check = modelcast::command_health_check(health_cmd, health_timeout_s * 1000);
      if (install_token == "auto") {
        auto token = modelcast::cached_install_token(cache);
        if (!token.ok()) return fail(kExitFailure, token.status().message());
        options.install_token = *token;
      } else {
        options.install_token = install_token;
      }
      return run_update(options, pubkeys, model, json, quiet);
    }
    if (open->parsed()) return run_open(cache, model, verify, json);
    if (status->parsed()) return run_status(cache, model, json);
    if (list->parsed()) return run_list(cache, json);
    if (remove->parsed()) return run_remove(cache, model, remove_wait, json);
  } catch (const std::exception& e) {
    return fail(kExitFailure, e.what());
  }
  return kExitUsage;
}
