// The `modelcast` command line: argument parsing and the exit-code contract of publisher/README.md
// (0 ok, 2 usage, 1 anything else with one "error: ..." line). The work is done by the
// publisher library; this file only maps options in and results out.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>
#include <sstream>

#include "cli_failure.h"
#include "diff.h"
#include "gc.h"
#include "init_tree.h"
#include "keygen.h"
#include "modelcast/canonical_json.h"
#include "modelcast/command_names.h"
#include "modelcast/names.h"
#include "ops_commands.h"
#include "progress.h"
#include "publish.h"
#include "recover.h"
#include "refresh.h"
#include "tree.h"
#include "verify.h"
#include "model_commands.h"

namespace modelcast {
namespace {

// Bytes that are not UTF-8 (a hostile manifest's fields in a finding) become U+FFFD
// instead of throwing.
void print_json(const Json& j) {
  std::printf("%s\n", j.dump(-1, ' ', false, Json::error_handler_t::replace).c_str());
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(item);
  if (!s.empty() && s.back() == ',') out.push_back("");
  return out;
}

Json files_json(const std::vector<FileEntry>& files) {
  Json out = Json::array();
  for (const auto& f : files)
    out.push_back({{"path", f.path},
                   {"sha256", f.sha256},
                   {"size", f.size},
                   {"encoding", f.encoding},
                   {"stored_size", f.stored_size},
                   {"url", f.url}});
  return out;
}

struct Cli {
  CLI::App app{"modelcast: publish versioned, signed ML models to static hosting", "modelcast"};

  // init
  std::string init_tree_dir, init_base_url, init_host;
  bool init_json = false;
  // keygen
  std::string keygen_out;
  bool keygen_json = false;
  // publish
  PublishOptions pub;
  std::string pub_features;
  int pub_rollout = 100;
  bool pub_no_wait = false, pub_json = false, pub_quiet = false;
  // verify
  VerifyOptions ver;
  bool ver_json = false;
  // diff
  DiffOptions dif;
  bool dif_json = false;
  std::string dif_format = "text";
  // refresh
  RefreshOptions ref;
  bool ref_json = false, ref_no_wait = false;
  // gc
  GcOptions gco;
  bool gc_json = false, gc_no_wait = false;
  ConfigInitOptions cfg;
  std::string cfg_features, cfg_outputs;
  std::string inspect_file;
  bool inspect_json = false;

  OpsCommands ops{app};
  CLI::App* init_cmd = nullptr;
  CLI::App* keygen_cmd = nullptr;
  CLI::App* publish_cmd = nullptr;
  CLI::App* verify_cmd = nullptr;
  CLI::App* diff_cmd = nullptr;
  CLI::App* refresh_cmd = nullptr;
  CLI::App* gc_cmd = nullptr;
  CLI::App* recover_cmd = nullptr;
  RecoverOptions rec;
  bool rec_no_wait = false, rec_json = false;
  CLI::App* config_init_cmd = nullptr;
  CLI::App* inspect_cmd = nullptr;

  Cli() {
    app.require_subcommand(1);
    init_cmd = app.add_subcommand("init", "Create a new tree: git repository, settings, cache headers, empty catalog");
    init_cmd->add_option("TREE", init_tree_dir, "Folder to create (must not exist or be empty)")->required();
    init_cmd->add_option("--base-url", init_base_url, "URL the tree will be served from");
    init_cmd->add_option("--host", init_host,
                         "Where the tree is served: github-pages (files up to 100 MB), cloudflare-pages (25 MiB) or none "
                         "(no limit); larger stored files are published as parts");
    init_cmd->add_flag("--json", init_json, "Print the result as one JSON object");

    keygen_cmd = app.add_subcommand("keygen", "Generate an Ed25519 signing key (KEY, mode 0600) and KEY.pub");
    keygen_cmd->add_option("--out", keygen_out, "Private key file to create (never overwritten)")->required();
    keygen_cmd->add_flag("--json", keygen_json, "Print the result as one JSON object");

    publish_cmd = app.add_subcommand("publish", "Publish FILEs as the next signed version of a model");
    publish_cmd->add_option("TREE", pub.tree, "The tree")->required();
    publish_cmd->add_option("FILE", pub.files, "Model files; PATH=FILE publishes FILE as PATH")->required();
    publish_cmd->add_option("--model", pub.model, "Model name")->required();
    publish_cmd->add_option("--platform", pub.platform, "Platform (android, ios, linux-arm64, ...)")->required();
    publish_cmd->add_option("--channel", pub.channel, "Channel (default: the tree's, \"stable\")");
    publish_cmd->add_option("--config", pub.config_path, "CONFIG.json: inputs, outputs, labels, features")->required();
    publish_cmd->add_option("--key", pub.key_paths, "Private signing key (from `modelcast keygen`); repeat for a threshold")
        ->required()
        ->allow_extra_args(false);
    publish_cmd->add_flag("--trust-new-key", pub.trust_new_key,
                          "Trust a --key the tree does not trust yet (devices must be given its KEY.pub)");
    publish_cmd->add_option("--rollout", pub_rollout, "Offer the new version to this percentage of devices (0 to 100)");
    publish_cmd->add_option("--expires-in", pub.expires_in_days, "Days until devices refuse the manifest (default 30)");
    publish_cmd->add_option("--refresh-within", pub.refresh_within_days,
                            "Re-sign unchanged content as a new version when the current one expires within DAYS");
    publish_cmd->add_option("--min-app-version", pub.min_app_version, "Oldest app version that may use this model");
    publish_cmd->add_option("--min-os", pub.min_os_version,
                            "Oldest OS version of --platform that runs the model (e.g. 17.0); older devices keep theirs");
    publish_cmd->add_option("--runtime", pub.runtime, "Runtime the device needs (e.g. tflite)");
    publish_cmd->add_option("--features", pub_features, "Features the device must support (comma-separated; default: config's)");
    publish_cmd->add_option("--path-prefix", pub.path_prefix, "Folder inside the model for FILEs given without PATH=");
    publish_cmd->add_option("--deltas", pub.deltas,
                            "Deltas from the previous N versions, and transformed blobs, for format 2 devices (default 2; 0: none)");
    publish_cmd->add_flag("--no-wait", pub_no_wait, "Fail at once if another publish holds the tree lock");
    publish_cmd->add_flag("--quiet", pub_quiet, "No progress lines");
    publish_cmd->add_flag("--json", pub_json, "Print the result as one JSON object");

    verify_cmd = app.add_subcommand("verify", "Check every manifest, signature, version and blob of a tree");
    verify_cmd->add_option("TREE", ver.tree, "The tree")->required();
    verify_cmd->add_option("--pubkey", ver.pubkey_path, "Trust only this public key");
    verify_cmd->add_flag("--json", ver_json, "Print the result as one JSON object");

    diff_cmd = app.add_subcommand("diff", "Summarise manifest changes between two commits (default HEAD~1..HEAD)");
    diff_cmd->add_option("TREE", dif.tree, "The tree")->required();
    diff_cmd->add_option("REV_A", dif.rev_a, "Older revision (default HEAD~1)");
    diff_cmd->add_option("REV_B", dif.rev_b, "Newer revision (default HEAD)");
    diff_cmd->add_flag("--json", dif_json, "Print the result as one JSON object");
    diff_cmd->add_option("--format", dif_format, "text (default), markdown (for a pull request comment) or json")
        ->check(CLI::IsMember({"text", "markdown", "json"}));

    add_refresh_command();
    add_gc_command();

    CLI::App* config_cmd = app.add_subcommand("config", "Model configuration helpers");
    config_cmd->require_subcommand(1);
    config_init_cmd = config_cmd->add_subcommand("init", "Print a config skeleton read from MODEL_FILE");
    config_init_cmd->add_option("MODEL_FILE", cfg.model_file,
                                "Model file (.tflite, .onnx, frozen .pb, .mlmodel) or folder (SavedModel, .mlpackage)")
        ->required();
    config_init_cmd->add_option("--labels", cfg.labels_file, "Labels file, one per line");
    config_init_cmd->add_option("--features", cfg_features, "Features the app extracts (comma-separated)");
    config_init_cmd->add_option("--outputs", cfg_outputs, "Model outputs to keep (comma-separated; a GraphDef's are guesses)");
    inspect_cmd = app.add_subcommand("inspect", "Show the inputs and outputs a model file declares");
    inspect_cmd->add_option("MODEL_FILE", inspect_file, "Model file or model folder (SavedModel, .mlpackage)")->required();
    inspect_cmd->add_flag("--json", inspect_json, "Print the result as one JSON object");
  }

  void add_refresh_command() {
    refresh_cmd = app.add_subcommand("refresh", "Re-sign current manifests that expire soon as new versions (same content)");
    refresh_cmd->add_option("TREE", ref.tree, "The tree")->required();
    refresh_cmd->add_option("--key", ref.key_paths, "Private signing key the tree trusts; repeat for a threshold")->required();
    refresh_cmd->add_option("--within", ref.within_days, "Refresh manifests that expire within DAYS (default 14)");
    refresh_cmd->add_option("--expires-in", ref.expires_in_days, "Days until the refreshed manifests expire (default: the tree's)");
    refresh_cmd->add_flag("--no-wait", ref_no_wait, "Fail at once if another command holds the tree lock");
    refresh_cmd->add_flag("--json", ref_json, "Print the result as one JSON object");
  }

  void add_gc_command() {
    gc_cmd = app.add_subcommand("gc", "Remove old versions, blobs, parts and deltas no kept manifest needs");
    gc_cmd->add_option("TREE", gco.tree, "The tree")->required();
    gc_cmd->add_option("--keep", gco.keep, "Newest versions kept per stream (default 3)");
    gc_cmd->add_option("--grace", gco.grace_days, "Also keep versions published within DAYS (default 7)");
    gc_cmd->add_flag("--dry-run", gco.dry_run, "Only say what would be removed");
    gc_cmd->add_flag("--no-wait", gc_no_wait, "Fail at once if another command holds the tree lock");
    gc_cmd->add_flag("--json", gc_json, "Print the result as one JSON object");

    recover_cmd = app.add_subcommand("recover", "Commit what an interrupted command left in a tree without a journal");
    recover_cmd->add_option("TREE", rec.tree, "The tree")->required();
    recover_cmd->add_flag("--dry-run", rec.dry_run, "Only list what would be committed");
    recover_cmd->add_flag("--no-wait", rec_no_wait, "Fail at once if another command holds the tree lock");
    recover_cmd->add_flag("--json", rec_json, "Print the result as one JSON object");
  }

  int run_refresh() {
    ref.wait_for_lock = !ref_no_wait;
    if (refresh_cmd->count("--expires-in") && ref.expires_in_days <= 0)
      return fail(error(StatusCode::kInvalidArgument, "--expires-in: must be 1 to 3650 days"));
    Status usage = check_refresh_options(ref);
    if (!usage.ok()) return fail(usage);
    auto r = refresh(ref);
    if (!r.ok()) return fail_runtime(r.status());
    if (ref_json) {
      Json streams = Json::array();
      for (const auto& s : r->refreshed)
        streams.push_back({{"model", s.model},
                           {"channel", s.channel},
                           {"platform", s.platform},
                           {"previous_version", s.previous_version},
                           {"version", s.version},
                           {"previous_expires_at", s.previous_expires_at},
                           {"expires_at", s.expires_at}});
      Json j = {{"status", r->refreshed.empty() ? "nothing-to-refresh" : "refreshed"},
                {"streams", r->streams},
                {"refreshed", streams},
                {"keyid", r->key_id},
                {"keyids", r->key_ids}};
      if (!r->commit.empty()) j["commit"] = r->commit;
      print_json(j);
    } else if (r->refreshed.empty()) {
      std::printf("nothing to refresh: none of %zu current manifest(s) expires within %d days\n", r->streams, ref.within_days);
    } else {
      for (const auto& s : r->refreshed)
        std::printf("refreshed %s %llu -> %llu (%s/%s), expires %s\n", s.model.c_str(),
                    static_cast<unsigned long long>(s.previous_version), static_cast<unsigned long long>(s.version),
                    s.channel.c_str(), s.platform.c_str(), s.expires_at.c_str());
      std::printf("commit %s\n", r->commit.c_str());
    }
    return kExitOk;
  }

  int run_gc() {
    gco.wait_for_lock = !gc_no_wait;
    Status usage = check_gc_options(gco);
    if (!usage.ok()) return fail(usage);
    auto r = gc(gco);
    if (!r.ok()) return fail_runtime(r.status());
    for (const auto& w : r->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    if (gc_json) {
      Json j = {{"status", gco.dry_run ? "dry-run" : r->removed.empty() ? "nothing-to-remove" : "removed"},
                {"removed", r->removed},
                {"manifests_removed", r->manifests_removed},
                {"files_removed", r->files_removed},
                {"bytes_freed", r->bytes_freed},
                {"manifests_kept", r->manifests_kept}};
      if (!r->commit.empty()) j["commit"] = r->commit;
      print_json(j);
      return kExitOk;
    }
    const char* verb = gco.dry_run ? "would remove" : "removed";
    for (const auto& rel : r->removed) std::printf("%s %s\n", verb, rel.c_str());
    if (r->removed.empty()) std::printf("nothing to remove: %zu versioned manifest(s) kept\n", r->manifests_kept);
    else
      std::printf("%s %zu manifest(s) and %zu blob file(s), %s freed\n", verb, r->manifests_removed, r->files_removed,
                  human_size(r->bytes_freed).c_str());
    if (!r->commit.empty()) std::printf("commit %s\n", r->commit.c_str());
    return kExitOk;
  }

  int run_recover() {
    rec.wait_for_lock = !rec_no_wait;
    auto r = recover_tree(rec);
    if (!r.ok()) return fail_runtime(r.status());
    const char* status = r->files.empty() ? "nothing-to-recover" : rec.dry_run ? "dry-run" : "committed";
    if (rec_json) {
      Json j = {{"status", status}, {"journal", r->has_journal}, {"files", r->files}, {"orphans", r->orphans}};
      if (!r->commit.empty()) j["commit"] = r->commit;
      print_json(j);
      return kExitOk;
    }
    const char* verb = rec.dry_run ? "would commit" : "committed";
    for (const auto& f : r->files) std::printf("%s %s\n", verb, f.c_str());
    if (r->files.empty()) std::printf("nothing to recover\n");
    else if (rec.dry_run) std::printf("%zu file(s) to commit; run `modelcast recover %s` to commit them\n", r->files.size(), rec.tree.c_str());
    if (!r->orphans.empty())
      std::printf("%zu untracked blob file(s) nothing names are left for `modelcast gc`\n", r->orphans.size());
    if (!r->commit.empty()) std::printf("commit %s\n", r->commit.c_str());
    return kExitOk;
  }

  int run_init() {
    InitOptions o{init_tree_dir, init_base_url, format_timestamp(std::time(nullptr)), init_host};
    if (o.tree.empty()) return fail(error(StatusCode::kInvalidArgument, "TREE must not be empty"));
    if (!o.host.empty()) {
      auto limit = host_max_file_bytes(o.host);
      if (!limit.ok()) return fail(limit.status());
    }
    auto r = init_tree(o);
    if (!r.ok()) return fail_runtime(r.status());
    if (init_json) print_json({{"status", "created"}, {"tree", o.tree}, {"commit", r->commit}});
    else std::printf("created tree %s (commit %s)\n", o.tree.c_str(), r->commit.substr(0, 12).c_str());
    return kExitOk;
  }

  int run_keygen() {
    auto r = generate_key_files(keygen_out);
    if (!r.ok()) return fail_runtime(r.status());
    if (keygen_json)
      print_json({{"keyid", r->key_id}, {"private_key", r->private_path}, {"public_key", r->public_path}});
    else std::printf("%s\n", r->key_id.c_str());
    return kExitOk;
  }

  int run_publish() {
    if (publish_cmd->count("--features")) pub.features = split_list(pub_features);
    if (publish_cmd->count("--rollout")) pub.rollout_percent = pub_rollout;
    pub.wait_for_lock = !pub_no_wait;
    pub.show_progress = !pub_quiet;
    if (publish_cmd->count("--expires-in") && pub.expires_in_days <= 0)
      return fail(error(StatusCode::kInvalidArgument, "--expires-in: must be 1 to 3650 days"));
    Status usage = check_publish_options(pub, nullptr);
    if (!usage.ok()) return fail(usage);
    auto r = publish(pub);
    if (!r.ok()) return fail_runtime(r.status());
    const PublishResult& p = *r;
    if (pub_json) {
      Json j = {{"status", p.unchanged ? "unchanged" : p.refreshed ? "refreshed" : "published"},
                {"model", pub.model},
                {"channel", p.channel},
                {"platform", pub.platform},
                {"version", p.version},
                {"previous_version", p.previous_version},
                {"manifest", p.manifest_path},
                {"files", files_json(p.files)},
                {"keyid", p.key_id}};
      if (!p.unchanged) {
        j["versioned_manifest"] = p.versioned_path;
        j["blobs_created"] = p.blobs_created;
        j["commit"] = p.commit;
        j["message"] = p.message;
      }
      print_json(j);
    } else if (p.unchanged) {
      std::printf("unchanged: %s %llu (%s/%s)\n", pub.model.c_str(), static_cast<unsigned long long>(p.version),
                  p.channel.c_str(), pub.platform.c_str());
    } else {
      std::printf("%s\ncommit %s\n", p.message.c_str(), p.commit.c_str());
    }
    return kExitOk;
  }

  int run_verify() {
    auto r = verify_tree(ver);
    if (!r.ok()) return fail_runtime(r.status());
    const VerifyReport& v = *r;
    for (const auto& w : v.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    for (const auto& o : v.orphans) std::fprintf(stderr, "warning: orphaned blob %s (no manifest names it)\n", o.c_str());
    for (const auto& p : v.problems) std::fprintf(stderr, "error: %s\n", p.c_str());
    if (ver_json) {
      print_json({{"ok", v.ok()},
                  {"manifests", v.manifests},
                  {"blobs", v.blobs},
                  {"blob_bytes", v.blob_bytes},
                  {"problems", v.problems},
                  {"warnings", v.warnings},
                  {"orphans", v.orphans}});
    } else if (v.ok()) {
      std::printf("ok: %zu manifests, %zu blobs (%s), %zu orphaned\n", v.manifests, v.blobs, human_size(v.blob_bytes).c_str(),
                  v.orphans.size());
    }
    return v.ok() ? kExitOk : kExitFailure;
  }

  int run_diff() {
    auto r = diff_revisions(dif);
    if (!r.ok()) return fail_runtime(r.status());
    if (dif_json || dif_format == "json") print_json(*r);
    else if (dif_format == "markdown") std::fputs(render_diff_markdown(*r).c_str(), stdout);
    else std::fputs(render_diff_text(*r).c_str(), stdout);
    return kExitOk;
  }

  int run() {
    if (init_cmd->parsed()) return run_init();
    if (keygen_cmd->parsed()) return run_keygen();
    if (publish_cmd->parsed()) return run_publish();
    if (verify_cmd->parsed()) return run_verify();
    if (diff_cmd->parsed()) return run_diff();
    if (refresh_cmd->parsed()) return run_refresh();
    if (gc_cmd->parsed()) return run_gc();
    if (recover_cmd->parsed()) return run_recover();
    if (int rc = ops.run(); rc >= 0) return rc;
    if (config_init_cmd->parsed()) {
      if (!cfg_features.empty()) cfg.features = split_list(cfg_features);
      if (!cfg_outputs.empty()) cfg.outputs = split_list(cfg_outputs);
      return run_config_init(cfg);
    }
    if (inspect_cmd->parsed()) return run_inspect(inspect_file, inspect_json);
    return kExitUsage;
  }
};

}  // namespace
}  // namespace modelcast

int main(int argc, char** argv) {
  using namespace modelcast;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--json") set_json_errors(true);
  Cli cli;
  cli.app.set_version_flag("--version", std::string("modelcast ") + MODELCAST_VERSION, "Print the version and exit");
  std::vector<std::string> commands;
  for (const CLI::App* sub : cli.app.get_subcommands([](const CLI::App*) { return true; }))
    commands.push_back(sub->get_name());
  if (argc > 1 && is_unknown_command(argv[1], commands)) return fail_usage(unknown_command_message(argv[1], commands));
  try {
    cli.app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return cli.app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail_usage(std::string(e.what()) + " (see --help)");
  }
  // Every command returns a Status; this is the net under anything that throws past one
  // (bad_alloc, a JSON type error), reported like any failure instead of an abort.
  try {
    return cli.run();
  } catch (const std::bad_alloc&) {
    return fail_runtime(error(StatusCode::kOutOfMemory, "out of memory"));
  } catch (const std::exception& e) {
    return fail_runtime(error(StatusCode::kInternal, std::string("internal error: ") + e.what()));
  }
}
