// The publish step that lists deltas and transformed blobs (issue 13, `publish --deltas N`)
// in a new version's format 2 document. Format 1 documents never list them: they are
// derived from the format 2 one and keep only the plain zstd or identity blob.
//
// A file whose content changed gets DeltaBuilder's deltas from the contents its path had
// in the stream's previous N versions (read from their versioned documents, format 2 when
// present, else format 1; bases whose stored blob is gone or exists only as parts are
// skipped), and its `xform` blob first when that is smaller than the plain one. A file the
// previous version already had keeps that version's format 2 extras: the same deltas
// still make the same content. Runs under the tree lock.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "modelcast/manifest_v2.h"
#include "modelcast/status.h"
#include "tree.h"

namespace modelcast {

struct DeltaPublishOptions {
  int max_bases = 2;            // 0: no deltas and no xform blobs
  uint64_t max_file_bytes = 0;  // the host's file limit; 0: none
  std::string tmp_dir;          // the tree's tmp folder (same file system)
};

// `sources` maps each file path of `next` to the file it was published from;
// `last_version` is the stream's newest version before `next`.
Status add_deltas(const Tree& tree, const std::map<std::string, std::string>& sources, uint64_t last_version,
                  const DeltaPublishOptions& options, ManifestV2* next);

}  // namespace modelcast
