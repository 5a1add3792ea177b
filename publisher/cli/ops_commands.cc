#include "ops_commands.h"

#include <cstdio>
#include <tuple>

#include "cli_failure.h"
#include "modelcast/canonical_json.h"
#include "keyset.h"
#include "promote.h"
#include "report.h"
#include "rollback.h"
#include "rollout.h"

namespace modelcast {

namespace {

void add_signing(CLI::App* cmd, SigningOptions& s) {
  cmd->add_option("TREE", s.tree, "The tree")->required();
  cmd->add_option("--key", s.key_paths, "Private signing key; repeat for a threshold of signatures")
      ->required()
      ->allow_extra_args(false);
  cmd->add_option("--expires-in", s.expires_in_days, "Days until devices refuse the manifest (default: the tree's)");
}

void add_stream(CLI::App* cmd, StreamName& s) {
  cmd->add_option("--model", s.model, "Model name")->required();
  cmd->add_option("--platform", s.platform, "Platform")->required();
  cmd->add_option("--channel", s.channel, "Channel (default: the tree's, \"stable\")");
}

int print(const Result<NextVersionResult>& r, bool json) {
  if (!r.ok()) return fail(r.status());
  const NextVersionResult& v = *r;
  if (json) {
    Json j = {{"status", v.unchanged ? "unchanged" : "published"},
              {"model", v.stream.model},
              {"channel", v.stream.channel},
              {"platform", v.stream.platform},
              {"version", v.version},
              {"previous_version", v.previous_version}};
    if (!v.unchanged) {
      j["manifest"] = v.manifest_path;
      j["versioned_manifest"] = v.versioned_path;
      j["keyids"] = v.key_ids;
      j["commit"] = v.commit;
      j["message"] = v.message;
    }
    std::printf("%s\n", j.dump().c_str());
  } else if (v.unchanged) {
    std::printf("unchanged: %s %llu\n", v.stream.text().c_str(), static_cast<unsigned long long>(v.version));
  } else {
    std::printf("%s\ncommit %s\n", v.message.c_str(), v.commit.c_str());
  }
  return 0;
}

}  // namespace

struct OpsCommands::State {
  RolloutOptions rollout;
  bool rollout_halt = false, rollout_json = false;
  RollbackOptions rollback;
  bool rollback_json = false;
  PromoteOptions promote;
  bool promote_json = false;
  CLI::App* rollout_cmd = nullptr;
  CLI::App* rollback_cmd = nullptr;
  CLI::App* promote_cmd = nullptr;
  KeyChangeOptions key_add, key_revoke;
  bool key_add_json = false, key_revoke_json = false;
  CLI::App* key_add_cmd = nullptr;
  CLI::App* key_revoke_cmd = nullptr;
  std::vector<std::string> report_logs;
  bool report_json = false;
  CLI::App* report_cmd = nullptr;
};

OpsCommands::OpsCommands(CLI::App& app) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.rollout_cmd = app.add_subcommand("rollout", "Offer the current content as the next version to a percentage of devices");
  add_signing(s.rollout_cmd, s.rollout.signing);
  add_stream(s.rollout_cmd, s.rollout.stream);
  auto* percent = s.rollout_cmd->add_option("--percent", s.rollout.percent, "Share of devices, 0 to 100");
  auto* halt = s.rollout_cmd->add_flag("--halt", s.rollout_halt, "Admit no new device (0%)");
  percent->excludes(halt);
  s.rollout_cmd->add_flag("--json", s.rollout_json, "Print the result as one JSON object");

  s.rollback_cmd = app.add_subcommand("rollback", "Republish an earlier version's content as the next version");
  add_signing(s.rollback_cmd, s.rollback.signing);
  add_stream(s.rollback_cmd, s.rollback.stream);
  s.rollback_cmd->add_option("--to-version", s.rollback.to_version, "The version whose content comes back")->required();
  s.rollback_cmd->add_flag("--json", s.rollback_json, "Print the result as one JSON object");

  s.promote_cmd = app.add_subcommand("promote", "Make the newest version of one channel the next version of another");
  add_signing(s.promote_cmd, s.promote.signing);
  s.promote_cmd->add_option("--model", s.promote.model, "Model name")->required();
  s.promote_cmd->add_option("--platform", s.promote.platform, "Platform")->required();
  s.promote_cmd->add_option("--from", s.promote.from, "Source channel (CHANNEL or CHANNEL/PLATFORM)")->required();
  s.promote_cmd->add_option("--to", s.promote.to, "Target channel (CHANNEL or CHANNEL/PLATFORM)")->required();
  s.promote_cmd->add_option("--rollout", s.promote.rollout_percent, "Share of devices, 0 to 100 (default 100)");
  s.promote_cmd->add_flag("--json", s.promote_json, "Print the result as one JSON object");

  CLI::App* key_cmd = app.add_subcommand("key", "Change the tree's signing keys with a signed key-set statement");
  key_cmd->require_subcommand(1);
  s.key_add_cmd = key_cmd->add_subcommand("add", "Add public keys to the key set (signed by the current set's threshold)");
  add_signing(s.key_add_cmd, s.key_add.signing);
  s.key_add_cmd->add_option("PUBKEY", s.key_add.add, "Public key file (KEY.pub) to add")->required();
  s.key_add_cmd->add_option("--threshold", s.key_add.threshold, "Signatures required from now on (default: unchanged)");
  s.key_add_cmd->add_flag("--json", s.key_add_json, "Print the result as one JSON object");
  s.key_revoke_cmd = key_cmd->add_subcommand("revoke", "Revoke keys and re-sign the manifests that needed them");
  add_signing(s.key_revoke_cmd, s.key_revoke.signing);
  s.key_revoke_cmd->add_option("KEY", s.key_revoke.revoke, "Key id or public key file to revoke")->required();
  s.key_revoke_cmd->add_option("--add", s.key_revoke.add, "Public key file to add in the same statement")
      ->allow_extra_args(false);
  s.key_revoke_cmd->add_option("--threshold", s.key_revoke.threshold, "Signatures required from now on (default: unchanged)");
  s.key_revoke_cmd->add_flag("--json", s.key_revoke_json, "Print the result as one JSON object");

  s.report_cmd = app.add_subcommand("report", "Devices per model, platform and version, from the host's access logs");
  s.report_cmd->add_option("--access-log", s.report_logs, "Access log in combined format (nginx, CDN); repeat for several")
      ->required()
      ->expected(1, -1);
  s.report_cmd->add_flag("--json", s.report_json, "Print the result as one JSON object");
}

OpsCommands::~OpsCommands() = default;

int OpsCommands::run() {
  State& s = *state_;
  if (s.rollout_cmd->parsed()) {
    if (s.rollout_halt) s.rollout.percent = 0;
    else if (!s.rollout_cmd->count("--percent"))
      return fail(error(StatusCode::kInvalidArgument, "rollout: give --percent N or --halt"));
    Status usage = check_rollout_options(s.rollout);
    if (!usage.ok()) return fail(usage);
    return print(rollout(s.rollout), s.rollout_json);
  }
  if (s.rollback_cmd->parsed()) {
    Status usage = check_rollback_options(s.rollback);
    if (!usage.ok()) return fail(usage);
    return print(rollback(s.rollback), s.rollback_json);
  }
  if (s.promote_cmd->parsed()) {
    Status usage = check_promote_options(s.promote);
    if (!usage.ok()) return fail(usage);
    return print(promote(s.promote), s.promote_json);
  }
  for (auto [cmd, options, json] : {std::make_tuple(s.key_add_cmd, &s.key_add, s.key_add_json),
                                    std::make_tuple(s.key_revoke_cmd, &s.key_revoke, s.key_revoke_json)}) {
    if (!cmd->parsed()) continue;
    Status usage = check_key_change_options(*options);
    if (!usage.ok()) return fail(usage);
    auto r = change_key_set(*options);
    if (!r.ok()) return fail(r.status());
    if (json) {
      Json keys = Json::array(), resigned = Json::array();
      for (const auto& k : r->set.keys) keys.push_back(k.key_id());
      for (const auto& v : r->resigned)
        resigned.push_back({{"model", v.stream.model}, {"channel", v.stream.channel}, {"platform", v.stream.platform},
                            {"version", v.version}});
      std::printf("%s\n", Json{{"status", "published"},
                               {"keyset_version", r->version},
                               {"statement", r->statement_path},
                               {"keys", keys},
                               {"threshold", r->set.threshold},
                               {"revoked", std::vector<std::string>(r->set.revoked.begin(), r->set.revoked.end())},
                               {"resigned", resigned},
                               {"commit", r->commit},
                               {"message", r->message}}
                               .dump()
                               .c_str());
    } else {
      std::printf("%s\ncommit %s\n", r->message.c_str(), r->commit.c_str());
    }
    return 0;
  }
  if (s.report_cmd->parsed()) {
    auto r = build_report(s.report_logs);
    if (!r.ok()) return fail(r.status());
    if (s.report_json) std::printf("%s\n", report_to_json(*r).dump().c_str());
    else std::fputs(report_to_text(*r).c_str(), stdout);
    return 0;
  }
  return -1;
}

}  // namespace modelcast
