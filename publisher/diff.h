// `modelcast diff`: what a reviewer needs to know about a publish commit, from the
// manifests alone: versions, files added/removed/changed with sizes, what devices download
// (full blobs, parts, deltas), tensors and labels, required features and app versions,
// rollout and its fallback, who signed each new version, and signing keys the tree did not
// trust before (a warning first).
//
// Works on git history (libgit2), never on the working tree, so it can review any two
// commits, including ones from a pull request. The catalog page describes its history with
// the same words (manifest_diff + describe_stream_changes on two versions from disk).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "modelcast/canonical_json.h"
#include "modelcast/manifest.h"
#include "modelcast/manifest_v2.h"
#include "modelcast/status.h"

namespace modelcast {

struct DiffOptions {
  std::string tree;
  std::string rev_a;  // empty: HEAD~1 (or the empty tree for the first commit)
  std::string rev_b;  // empty: HEAD
};

// One version of a stream as a reviewer sees it: its content (from the format 2 document
// when the tree has one, else the format 1 document read as format 2) and its signers.
struct StreamVersion {
  ManifestV2 manifest;
  std::vector<std::string> signers;  // key ids of every signature, both documents
};

// Reads one version from its documents' text: format 1 (required) and format 2 (may be
// empty: a tree written before format 2).
Result<StreamVersion> stream_version_from_text(const std::string& v1_text, const std::string& v2_text);

// The change of one stream from `a` to `b` (either may be absent: added, removed) as JSON;
// see publisher/README.md "diff". With `trusted_before`, signers of `b` outside it are
// listed in "new_signers".
Json manifest_diff(const std::string& path, const std::string& model, const std::string& channel, const std::string& platform,
                   const std::optional<StreamVersion>& a, const std::optional<StreamVersion>& b,
                   const std::set<std::string>* trusted_before);

enum class DiffStyle { kText, kMarkdown };

// One line per change of a manifest_diff, in the words the text, the markdown and the
// catalog page share. Strings from manifests pass through display_text (and, for
// markdown, into code spans), and are cut at a character boundary when long.
std::vector<std::string> describe_stream_changes(const Json& manifest_diff, DiffStyle style);

// {"from", "to", "warnings", "manifests": [...], "keys": {"added", "removed"},
//  "trusted_keys": {"added", "removed"}}; see publisher/README.md.
Result<Json> diff_revisions(const DiffOptions& options);

// The same as readable text: warnings first, then one block per changed manifest.
std::string render_diff_text(const Json& diff);

// The same as GitHub-flavoured markdown for a pull request comment: warnings first, then
// per stream the version change, a table of files added/removed/changed (size, short
// hash), and every other change item by item, old -> new. Values from manifests are shown
// in code spans with backticks and table separators neutralised, so a label cannot inject
// markdown into the comment.
std::string render_diff_markdown(const Json& diff);

}  // namespace modelcast
