// A protobuf model file mapped read-only for the wire readers (GraphDef, SavedModel, Core
// ML): mapped rather than read, so weights stay page cache the kernel can drop and are
// never copied. Protobuf messages stop at 2 GiB; a larger file is not one of these models.
#pragma once

#include <climits>
#include <string>
#include <string_view>

#include "../src/mapped_file.h"
#include "modelcast/status.h"

namespace modelcast {

constexpr uint64_t kMaxProtobufModelBytes = INT_MAX;

inline Result<MappedFile> map_protobuf_model(const std::string& path, const char* format) {
  MC_ASSIGN_OR_RETURN(MappedFile file, MappedFile::open_read(path));
  if (file.size() > kMaxProtobufModelBytes)
    return error(StatusCode::kCorruption, path + ": larger than the " + std::to_string(kMaxProtobufModelBytes) +
                                              "-byte limit of a protobuf message, so not a " + format);
  return file;
}

inline std::string_view mapped_bytes(const MappedFile& file) {
  return std::string_view(reinterpret_cast<const char*>(file.data()), static_cast<size_t>(file.size()));
}

}  // namespace modelcast
