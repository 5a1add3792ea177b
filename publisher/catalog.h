// The catalog of a tree: index.json (every model, channel and platform with its current
// version, config, download sizes, signers and history) and index.html rendered from
// site/index.html.in: what a visitor or an app developer opens first.
//
// The catalog is derived data, rebuilt from the manifests on disk on every change, so it
// can never drift from what devices see. Manifests are read for display only; signatures
// are the verifier's job. Sizes are what a device downloads (the blob a format 2 device
// uses, and the deltas), and every link is a file the tree holds: a blob stored in parts
// links its parts. The history says what changed in each version in the words of
// `modelcast diff` (diff.h). Every string from a manifest is shown through display_text
// and HTML-escaped.
#pragma once

#include <string>
#include <vector>

#include "modelcast/canonical_json.h"
#include "modelcast/file_system.h"
#include "modelcast/status.h"

namespace modelcast {

constexpr const char* kCatalogSchema = "modelcast/index/2";

// Reads every manifest under TREE/manifests (and its format 2 document under v2/), and the
// trusted keys of TREE/modelcast.json. Manifests that do not parse are left out and named
// in `warnings`.
Result<Json> build_catalog(const std::string& tree_root, const std::string& base_url, const std::string& generated_at,
                           std::vector<std::string>* warnings, FileSystem& fs = *posix_file_system());

std::string render_catalog_html(const Json& catalog);

// The tree-relative paths write_catalog writes: index.json, index.html.
const std::vector<std::string>& catalog_file_paths();

// Writes TREE/index.json and TREE/index.html (atomically); returns their tree-relative paths.
Result<std::vector<std::string>> write_catalog(const std::string& tree_root, const std::string& base_url,
                                               const std::string& generated_at, std::vector<std::string>* warnings,
                                               FileSystem& fs = *posix_file_system());

// Text for HTML content and attribute values: & < > " ' escaped.
std::string html_escape(const std::string& text);

// site/index.html.in, compiled in (generated source).
const char* catalog_page_template();

}  // namespace modelcast
