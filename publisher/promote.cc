#include "promote.h"

#include "keyset.h"
#include "modelcast/names.h"
#include "rollout.h"

namespace modelcast {

namespace {

Status usage(const std::string& message) { return error(StatusCode::kInvalidArgument, message); }

// "beta" or "beta/android" -> the stream it names.
Result<StreamName> parse_end(const std::string& text, const PromoteOptions& o, const std::string& flag) {
  StreamName s{o.model, text, o.platform};
  auto slash = text.find('/');
  if (slash != std::string::npos) {
    s.channel = text.substr(0, slash);
    s.platform = text.substr(slash + 1);
  }
  MC_RETURN_IF_ERROR(check_name(s.channel, flag + " channel"));
  MC_RETURN_IF_ERROR(check_name(s.platform, flag + " platform"));
  return s;
}

}  // namespace

Status check_promote_options(const PromoteOptions& o) {
  MC_RETURN_IF_ERROR(check_signing_options(o.signing));
  MC_RETURN_IF_ERROR(check_name(o.model, "--model"));
  MC_RETURN_IF_ERROR(check_name(o.platform, "--platform"));
  if (o.from.empty() || o.to.empty()) return usage("--from and --to are required");
  MC_ASSIGN_OR_RETURN(StreamName from, parse_end(o.from, o, "--from"));
  MC_ASSIGN_OR_RETURN(StreamName to, parse_end(o.to, o, "--to"));
  if (from.platform != to.platform)
    return usage("promote: " + from.channel + "/" + from.platform + " and " + to.channel + "/" + to.platform +
                 " are streams of different platforms; publish the " + to.platform + " build to " + to.channel + " instead");
  if (from.channel == to.channel) return usage("promote: --from and --to name the same channel \"" + from.channel + "\"");
  return check_rollout_percent(o.rollout_percent, "--rollout");
}

Result<NextVersionResult> promote(const PromoteOptions& o) {
  MC_RETURN_IF_ERROR(check_promote_options(o));
  MC_ASSIGN_OR_RETURN(StreamName from, parse_end(o.from, o, "--from"));
  MC_ASSIGN_OR_RETURN(StreamName to, parse_end(o.to, o, "--to"));
  MC_ASSIGN_OR_RETURN(std::vector<PrivateKey> keys, load_signing_keys(o.signing.key_paths, o.signing.tree));
  MC_RETURN_IF_ERROR(check_signers_before_lock(o.signing.tree, keys));
  MC_ASSIGN_OR_RETURN(TreeSession session, TreeSession::open(o.signing.tree, o.signing.wait_for_lock, "promote"));
  auto source = session.current_content(from);
  if (!source.ok() && source.status().code() == StatusCode::kNotFound)
    return error(StatusCode::kNotFound, from.text() + ": nothing published, nothing to promote");
  if (!source.ok()) return source.status();
  ManifestV2 next = *source;
  next.channel = to.channel;
  // A fallback release names a version of the source stream: it means nothing in `to`.
  next.rollout = rollout_member(o.rollout_percent, std::nullopt);

  auto target = session.current_content(to);
  if (!target.ok() && target.status().code() != StatusCode::kNotFound) return target.status();
  auto percent = [](const ManifestV2& m) { return m.rollout ? m.rollout->percent : 100; };
  if (target.ok() && same_content(*target, next) && percent(*target) == percent(next)) {
    NextVersionResult unchanged;
    unchanged.unchanged = true;
    unchanged.stream = to;
    unchanged.version = unchanged.previous_version = target->version;
    return unchanged;
  }
  const uint64_t source_version = source->version;
  auto title = [&](uint64_t version) {
    std::string t = "promote " + o.model + " " + std::to_string(version) + " (" + to.channel + "/" + to.platform + "): " +
                    from.channel + " version " + std::to_string(source_version);
    if (o.rollout_percent < 100) t += ", to " + std::to_string(o.rollout_percent) + "% of devices";
    return t;
  };
  return write_next_version(session, std::move(next), keys, o.signing, title);
}

}  // namespace modelcast
