#include "rollback.h"

#include "keyset.h"
#include "modelcast/names.h"

namespace modelcast {

Status check_rollback_options(const RollbackOptions& o) {
  MC_RETURN_IF_ERROR(check_signing_options(o.signing));
  MC_RETURN_IF_ERROR(check_name(o.stream.model, "--model"));
  MC_RETURN_IF_ERROR(check_name(o.stream.platform, "--platform"));
  if (!o.stream.channel.empty()) MC_RETURN_IF_ERROR(check_name(o.stream.channel, "--channel"));
  if (o.to_version == 0) return error(StatusCode::kInvalidArgument, "--to-version: must be a version number from 1");
  return OkStatus();
}

Result<NextVersionResult> rollback(const RollbackOptions& o) {
  MC_RETURN_IF_ERROR(check_rollback_options(o));
  MC_ASSIGN_OR_RETURN(std::vector<PrivateKey> keys, load_signing_keys(o.signing.key_paths, o.signing.tree));
  MC_RETURN_IF_ERROR(check_signers_before_lock(o.signing.tree, keys));
  MC_ASSIGN_OR_RETURN(TreeSession session, TreeSession::open(o.signing.tree, o.signing.wait_for_lock, "rollback"));
  StreamName stream = o.stream;
  if (stream.channel.empty()) stream.channel = session.tree().settings().default_channel;
  const std::string target = stream.text() + " version " + std::to_string(o.to_version);

  MC_ASSIGN_OR_RETURN(uint64_t last, session.last_version(stream));
  if (last == 0) return error(StatusCode::kNotFound, stream.text() + ": nothing published yet, nothing to roll back");
  auto source = session.versioned_content(stream, o.to_version);
  if (!source.ok() && source.status().code() == StatusCode::kNotFound)
    return error(StatusCode::kNotFound, target + " does not exist (the stream has versions up to " + std::to_string(last) + ")");
  if (!source.ok()) return source.status();
  if (o.to_version == last)
    return error(StatusCode::kInvalidArgument, target + " is the current version; nothing to roll back");
  // Garbage collection may have removed an old version's blobs or parts: republishing it
  // would name content devices cannot download.
  for (const auto& rel : stored_paths(*source))
    if (!session.tree().fs().exists(session.tree().path(rel)))
      return error(StatusCode::kNotFound, target + ": " + rel +
                                              " is no longer in the tree (garbage-collected); publish the file again instead");

  ManifestV2 next = *source;
  next.rollout.reset();  // a rollback is for every device at once
  auto title = [&](uint64_t version) {
    return "rollback " + stream.model + " " + std::to_string(version) + " (" + stream.channel + "/" + stream.platform +
           "): back to the content of version " + std::to_string(o.to_version) + ", replacing version " + std::to_string(last);
  };
  return write_next_version(session, std::move(next), keys, o.signing, title);
}

}  // namespace modelcast
