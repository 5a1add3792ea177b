// `modelcast init`: a new, empty tree with its git repository and first commit.
#pragma once

#include <string>

#include "modelcast/status.h"

namespace modelcast {

struct InitOptions {
  std::string tree;
  std::string base_url;  // optional
  std::string now;       // RFC 3339 UTC, for the catalog
  std::string host;      // "github-pages", "cloudflare-pages", "none" or empty (none)
};

struct InitResult {
  std::string commit;
};

// Refuses (kExists) a folder that already holds a tree, a git repository or any file.
Result<InitResult> init_tree(const InitOptions& options);

}  // namespace modelcast
