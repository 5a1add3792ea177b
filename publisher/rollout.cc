#include "rollout.h"

#include "keyset.h"
#include "modelcast/names.h"
#include "modelcast/sha256.h"

namespace modelcast {

Status check_rollout_percent(int percent, const std::string& flag) {
  if (percent < 0 || percent > 100)
    return error(StatusCode::kInvalidArgument, flag + ": " + std::to_string(percent) + " is outside 0..100");
  return OkStatus();
}

std::optional<RolloutV2> rollout_member(int percent, const std::optional<RolloutFallback>& fallback) {
  if (percent == 100) return std::nullopt;
  RolloutV2 r;
  r.percent = percent;
  r.fallback = fallback;
  return r;
}

Result<std::optional<RolloutFallback>> fallback_release(const Tree& tree, const StreamName& s) {
  const std::string current_rel = TreeLayout::current_manifest_v2(s.model, s.channel, s.platform);
  if (!tree.fs().exists(tree.path(current_rel))) return std::optional<RolloutFallback>();
  MC_ASSIGN_OR_RETURN(std::string text, tree.fs().read_file(tree.path(current_rel), kMaxManifestBytes));
  auto current = parse_signed_manifest_v2(text);
  if (!current.ok()) return current.status().with_context(current_rel + " (run `modelcast verify`)");
  const ManifestV2& m = current->manifest;
  if (m.rollout && m.rollout->percent < 100) return m.rollout->fallback;
  const std::string rel = TreeLayout::versioned_manifest_v2(s.model, s.channel, s.platform, m.version);
  MC_ASSIGN_OR_RETURN(std::string stored, tree.fs().read_file(tree.path(rel), kMaxManifestBytes));
  return std::optional<RolloutFallback>(RolloutFallback{m.version, sha256_hex(stored)});
}

Status check_rollout_options(const RolloutOptions& o) {
  MC_RETURN_IF_ERROR(check_signing_options(o.signing));
  MC_RETURN_IF_ERROR(check_name(o.stream.model, "--model"));
  MC_RETURN_IF_ERROR(check_name(o.stream.platform, "--platform"));
  if (!o.stream.channel.empty()) MC_RETURN_IF_ERROR(check_name(o.stream.channel, "--channel"));
  return check_rollout_percent(o.percent, "--percent");
}

Result<NextVersionResult> rollout(const RolloutOptions& o) {
  MC_RETURN_IF_ERROR(check_rollout_options(o));
  MC_ASSIGN_OR_RETURN(std::vector<PrivateKey> keys, load_signing_keys(o.signing.key_paths, o.signing.tree));
  MC_RETURN_IF_ERROR(check_signers_before_lock(o.signing.tree, keys));
  MC_ASSIGN_OR_RETURN(TreeSession session, TreeSession::open(o.signing.tree, o.signing.wait_for_lock, "rollout"));
  StreamName stream = o.stream;
  if (stream.channel.empty()) stream.channel = session.tree().settings().default_channel;
  auto current = session.current_content(stream);
  if (!current.ok() && current.status().code() == StatusCode::kNotFound)
    return error(StatusCode::kNotFound, stream.text() + ": nothing published yet, nothing to roll out");
  if (!current.ok()) return current.status();
  ManifestV2 next = *current;
  const int before = next.rollout ? next.rollout->percent : 100;
  if (before == o.percent) {
    NextVersionResult unchanged;
    unchanged.unchanged = true;
    unchanged.stream = stream;
    unchanged.version = unchanged.previous_version = next.version;
    return unchanged;
  }
  // Narrowing a release every device had: it becomes the fallback of the others. A fallback
  // release already named stays as it was: it still names the last release every device had.
  MC_ASSIGN_OR_RETURN(std::optional<RolloutFallback> fallback, fallback_release(session.tree(), stream));
  next.rollout = rollout_member(o.percent, fallback);
  const std::string what = o.percent == 0 ? "halt: no new device (was " + std::to_string(before) + "%)"
                                          : std::to_string(before) + "% -> " + std::to_string(o.percent) + "% of devices";
  const uint64_t source = current->version;
  auto title = [&](uint64_t version) {
    return std::string(o.percent == 0 ? "halt " : "rollout ") + stream.model + " " + std::to_string(version) + " (" +
           stream.channel + "/" + stream.platform + "): " + what + ", content of version " + std::to_string(source);
  };
  return write_next_version(session, std::move(next), keys, o.signing, title);
}

}  // namespace modelcast
