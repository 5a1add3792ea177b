#include "source_files.h"

#include <cctype>
#include <map>

#include "modelcast/fs.h"
#include "modelcast/manifest.h"
#include "modelcast/names.h"

namespace modelcast {

namespace {

Status usage(const std::string& message) { return error(StatusCode::kInvalidArgument, message); }

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "models/mnist.mlpackage/" names the folder "mnist.mlpackage".
std::string base_name(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  auto pos = path.find_last_of('/');
  return pos == std::string::npos ? path : path.substr(pos + 1);
}

// Adds every regular file under `dir` (read from `source_dir`) at `path/<name>`, depth first
// in name order. `depth` counts the segments of `path`, so a folder deeper than a manifest
// path may be is refused before it is walked any further.
Status add_folder(FileSystem& fs, const std::string& source_dir, const std::string& path, size_t depth,
                  std::vector<SourceFile>& out) {
  if (depth >= kMaxFilePathDepth)
    return usage(source_dir + ": nested deeper than a model's paths may be (" + std::to_string(kMaxFilePathDepth) +
                 " segments)");
  auto names = fs.list_dir(source_dir);
  if (!names.ok()) return usage(names.status().message());
  for (const auto& name : *names) {
    const std::string source = source_dir + "/" + name;
    const std::string rel = path + "/" + name;
    MC_ASSIGN_OR_RETURN(FileInfo info, fs.lstat(source));
    switch (info.type) {
      case FileType::kDirectory:
        MC_RETURN_IF_ERROR(add_folder(fs, source, rel, depth + 1, out));
        break;
      case FileType::kRegular:
        MC_RETURN_IF_ERROR(check_file_path(rel, "file path of " + source));
        if (out.size() >= kMaxFiles) return usage(source + ": more than " + std::to_string(kMaxFiles) + " files in one version");
        out.push_back({source, rel});
        break;
      case FileType::kSymlink:
        return usage(source + ": a symbolic link inside a folder is not published; put the file itself there");
      case FileType::kOther:
        return usage(source + ": not a regular file or folder (a FIFO, socket or device) inside a folder");
    }
  }
  return OkStatus();
}

// A single argument, FILE or DIR, with an optional PATH= in front.
Status add_argument(FileSystem& fs, const std::string& arg, const std::string& path_prefix, std::vector<SourceFile>& out) {
  SourceFile f;
  auto eq = arg.find('=');
  const bool explicit_path = eq != std::string::npos && eq > 0 && !path_exists(arg);
  if (explicit_path) {
    f.path = arg.substr(0, eq);
    f.source = arg.substr(eq + 1);
  } else {
    f.source = arg;
    f.path = base_name(arg);
    if (!path_prefix.empty()) f.path = path_prefix + "/" + f.path;
  }
  if (f.source.empty()) return usage("FILE argument \"" + arg + "\" names no file");
  MC_RETURN_IF_ERROR(check_file_path(f.path, "file path of " + f.source));
  // The argument itself may be a link (the user named it); what it names decides. A missing
  // file is reported when it is read, as before folders were accepted.
  auto info = fs.stat(f.source);
  if (!info.ok() || info->type != FileType::kDirectory) {
    out.push_back(std::move(f));
    return OkStatus();
  }
  const size_t before = out.size();
  size_t depth = 1;
  for (char c : f.path) depth += c == '/';
  std::string dir = f.source;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  MC_RETURN_IF_ERROR(add_folder(fs, dir, f.path, depth, out));
  if (out.size() == before) return usage(f.source + ": a folder with no files to publish");
  return OkStatus();
}

}  // namespace

Result<std::vector<SourceFile>> resolve_source_files(const std::vector<std::string>& args, const std::string& path_prefix,
                                                     FileSystem& fs) {
  if (args.empty()) return usage("at least one FILE to publish is required");
  std::vector<SourceFile> out;
  for (const auto& arg : args) MC_RETURN_IF_ERROR(add_argument(fs, arg, path_prefix, out));
  if (out.size() > kMaxFiles) return usage("more than " + std::to_string(kMaxFiles) + " files in one version");
  // Devices on case-insensitive file systems would see two paths as one, and a path that
  // is also a folder cannot be both on any file system.
  std::map<std::string, const SourceFile*> seen;
  for (const auto& f : out) {
    auto [it, inserted] = seen.emplace(lower(f.path), &f);
    if (!inserted) {
      if (it->second->path == f.path) return usage("file path \"" + f.path + "\" given twice");
      return usage("file paths \"" + it->second->path + "\" and \"" + f.path + "\" differ only in case");
    }
  }
  for (const auto& [key, file] : seen) {
    auto next = seen.lower_bound(key + "/");
    if (next != seen.end() && next->first.compare(0, key.size() + 1, key + "/") == 0)
      return usage("file path \"" + file->path + "\" is also used as a folder by \"" + next->second->path + "\"");
  }
  return out;
}

}  // namespace modelcast
