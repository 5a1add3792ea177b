// `modelcast diff`: what a reviewer needs to know about a publish commit, from the
// manifests alone: versions, files added/removed/changed with sizes, tensors and labels,
// required features and app versions, and signing keys that appeared or disappeared.
//
// Works on git history (libgit2), never on the working tree, so it can review any two
// commits, including ones from a pull request.
#pragma once

#include <string>

#include "modelcast/canonical_json.h"
#include "modelcast/status.h"

namespace modelcast {

struct DiffOptions {
  std::string tree;
  std::string rev_a;  // empty: HEAD~1 (or the empty tree for the first commit)
  std::string rev_b;  // empty: HEAD
};

// {"from", "to", "manifests": [...], "keys": {"added", "removed"}}; see publisher/README.md.
Result<Json> diff_revisions(const DiffOptions& options);

// The same as readable text, one block per changed manifest.
std::string render_diff_text(const Json& diff);

// The same as GitHub-flavoured markdown for a pull request comment: per stream the version
// change, a table of files added/removed/changed (size, short hash), then every config,
// requirement, rollout and expiry change item by item, old -> new. Values from manifests
// are shown in code spans with backticks and line breaks neutralised, so a label cannot
// inject markdown into the comment.
std::string render_diff_markdown(const Json& diff);

}  // namespace modelcast
