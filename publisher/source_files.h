// The FILE arguments of `modelcast publish` resolved to the files one version holds.
//
// A file is published under its base name (inside --path-prefix when given), or as PATH
// with PATH=FILE. A folder (a SavedModel, a Core ML .mlpackage) is published as every
// regular file under it, at "<folder name>/<path inside the folder>" (or "PATH/<...>" with
// PATH=DIR), so the device rebuilds the same layout. Inside a folder only regular files and
// folders are taken: a symbolic link (which could point anywhere, and which the device
// would not recreate) and a FIFO, socket or device are refused, naming the path.
#pragma once

#include <string>
#include <vector>

#include "modelcast/file_system.h"
#include "modelcast/status.h"

namespace modelcast {

// A file to publish: where it is read from and its path inside the model.
struct SourceFile {
  std::string source;
  std::string path;
};

// Resolves `args` (FILE, DIR, PATH=FILE or PATH=DIR) through `fs`. Every path passes
// check_file_path, and no two collide when compared case-insensitively, nor is one a
// folder of another (device file systems on iOS and macOS ignore case). Errors are
// kInvalidArgument, one line naming the argument or file.
Result<std::vector<SourceFile>> resolve_source_files(const std::vector<std::string>& args, const std::string& path_prefix,
                                                     FileSystem& fs);

}  // namespace modelcast
