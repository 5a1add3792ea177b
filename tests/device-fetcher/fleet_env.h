// Shared by the fleet-operation tests (rollout, rollback, health check, disk budget, key
// rotation, report): a tree written by the real `modelcast` CLI, served by a real nginx,
// and device caches updated by the real fetcher.
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "../support/nginx_server.h"
#include "fetch_test_util.h"
#include "modelcast/fetcher.h"
#include "modelcast/signed_manifest.h"
#include "modelcast/signed_manifest_v2.h"

namespace modelcast::testing {

struct FleetEnv {
  TempDir root;   // served by nginx; the tree is root/tree
  TempDir work;   // keys, config, model files
  std::string tree = root / "tree";
  std::string key = work / "key";
  std::unique_ptr<NginxServer> nginx;

  FleetEnv() {
    std::string err;
    nginx = NginxServer::start(NginxOptions{root.path()}, &err);
    REQUIRE_MESSAGE(nginx != nullptr, err);
    CommandResult init = cli({"init", tree});
    REQUIRE_MESSAGE(init.exit_code == 0, init.err);
    CommandResult keygen = cli({"keygen", "--out", key});
    REQUIRE_MESSAGE(keygen.exit_code == 0, keygen.err);
    write_all(work / "config.json", config_to_json(simple_config()).dump());
  }

  static CommandResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), MODELCAST_PUBLISHER_CLI);
    return run_command(args);
  }

  // Publishes model.bin with `content` as the next version of classifier/stable/android-arm64.
  CommandResult publish(const std::string& content, std::vector<std::string> extra = {}) {
    write_all(work / "model.bin", content);
    std::vector<std::string> args = {"publish", tree, "--model", "classifier", "--platform", "android-arm64", "--config",
                                     work / "config.json", "--key", key, "--quiet", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(work / "model.bin");
    CommandResult r = cli(args);
    age_current_manifest();
    return r;
  }

  // A fleet command on this stream (`rollout`, `rollback`, ...), signed with the key.
  CommandResult op(const std::string& command, std::vector<std::string> extra) {
    std::vector<std::string> args = {command, tree, "--model", "classifier", "--platform", "android-arm64", "--key", key,
                                     "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    CommandResult r = cli(args);
    age_current_manifest();
    return r;
  }

  // The current manifest of the stream: format 1, or format 2 (what devices read first).
  std::string current_path(int format = 2) const {
    return tree + (format == 2 ? "/v2" : "") + "/manifests/classifier/stable/android-arm64.json";
  }

  // nginx's ETag is mtime (seconds) + size: move the rewritten manifests' mtime forward so
  // a device never mistakes a new manifest written in the same second for the old one.
  void age_current_manifest() {
    static int ahead = 1;
    touch_later(current_path(1), ahead);
    touch_later(current_path(2), ahead++);
  }

  FetcherOptions device(const std::string& cache, const std::string& device_id = "") const {
    FetcherOptions o;
    o.base_url = nginx->url() + "/tree";
    o.cache_dir = cache;
    o.trusted_keys = {PublicKey::from_pem_file(key + ".pub").value()};
    o.platform = "android-arm64";
    o.device_id = device_id;
    o.connect_timeout_ms = 2000;
    o.low_speed_time_ms = 2000;
    return o;
  }

  static UpdateResult update(FetcherOptions o) {
    auto f = Fetcher::create(std::move(o));
    REQUIRE_MESSAGE(f.ok(), f.status().message());
    return (*f)->update("classifier");
  }

  ManifestV2 current_v2() const {
    auto sm = parse_signed_manifest_v2(read_all(current_path(2)));
    REQUIRE_MESSAGE(sm.ok(), sm.status().message());
    return sm->manifest;
  }

  Manifest current() const {
    auto sm = parse_signed_manifest(read_all(tree + "/manifests/classifier/stable/android-arm64.json"));
    REQUIRE_MESSAGE(sm.ok(), sm.status().message());
    return sm->manifest;
  }
};

}  // namespace modelcast::testing
