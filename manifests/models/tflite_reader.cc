// TFLite reader: what a .tflite FlatBuffer says about its inputs, outputs and metadata.
//
// The file is mapped read-only rather than copied: FlatBuffers need the whole buffer at
// once, and a mapping of a clean file is page cache the kernel can drop, not heap charged
// to the app. Nothing is read from the buffer before flatbuffers::Verifier has checked
// every offset, vector length and nesting level that the generated accessors follow;
// indices between tables (tensor index, buffer index) are checked here, since the
// Verifier does not know them.

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "modelcast/file_system.h"
#include "modelcast/model_info.h"
#include "modelcast/model_readers.h"
#include "tflite/schema_generated.h"

namespace modelcast {

namespace {

// FlatBuffers address at most 2 GiB; a larger file is not a model this reader can verify.
constexpr uint64_t kMaxTfliteBytes = FLATBUFFERS_MAX_BUFFER_SIZE - 1;
// Real models nest five tables deep and hold a few thousand tables (one per tensor plus
// quantization); the limits only stop hostile files from making the Verifier work forever.
constexpr flatbuffers::uoffset_t kMaxVerifierDepth = 64;
constexpr flatbuffers::uoffset_t kMaxVerifierTables = 4000000;
constexpr size_t kMaxNameBytes = 1024;
constexpr size_t kMaxDescriptionBytes = 16384;
constexpr size_t kMaxMetadataEntries = 256;
constexpr size_t kMaxRuntimeVersionBytes = 64;

Status corrupt(const std::string& what, const std::string& problem) {
  return error(StatusCode::kCorruption, what + ": " + problem);
}

std::string dtype_name(tflite::TensorType type) {
  switch (type) {
    case tflite::TensorType_FLOAT32: return "float32";
    case tflite::TensorType_FLOAT16: return "float16";
    case tflite::TensorType_INT32: return "int32";
    case tflite::TensorType_UINT8: return "uint8";
    case tflite::TensorType_INT64: return "int64";
    case tflite::TensorType_STRING: return "string";
    case tflite::TensorType_BOOL: return "bool";
    case tflite::TensorType_INT16: return "int16";
    case tflite::TensorType_COMPLEX64: return "complex64";
    case tflite::TensorType_INT8: return "int8";
    case tflite::TensorType_FLOAT64: return "float64";
    case tflite::TensorType_COMPLEX128: return "complex128";
    case tflite::TensorType_UINT64: return "uint64";
    case tflite::TensorType_RESOURCE: return "resource";
    case tflite::TensorType_VARIANT: return "variant";
    case tflite::TensorType_UINT32: return "uint32";
    case tflite::TensorType_UINT16: return "uint16";
    case tflite::TensorType_INT4: return "int4";
    case tflite::TensorType_BFLOAT16: return "bfloat16";
  }
  // A type added upstream after our schema copy: report it, do not guess.
  return "tflite-type-" + std::to_string(static_cast<int>(type));
}

std::string text(const flatbuffers::String* s, size_t max_bytes) {
  if (s == nullptr) return std::string();
  return model_text(std::string_view(s->c_str(), s->size()), max_bytes);
}

Result<TensorInfo> tensor_info(const tflite::SubGraph& graph, int32_t index, const std::string& where) {
  const auto* tensors = graph.tensors();
  if (tensors == nullptr || index < 0 || static_cast<uint32_t>(index) >= tensors->size())
    return corrupt(where, "tensor index " + std::to_string(index) + " is out of range");
  const tflite::Tensor* t = tensors->Get(static_cast<flatbuffers::uoffset_t>(index));
  if (t == nullptr) return corrupt(where, "tensor " + std::to_string(index) + " is missing");
  TensorInfo info;
  info.name = text(t->name(), kMaxNameBytes);
  info.dtype = dtype_name(t->type());
  // shape holds 1 for a dynamic dimension; shape_signature, when the converter wrote it,
  // holds -1 there. Prefer the signature so a config can say "any batch size".
  const auto* shape = t->shape();
  const auto* signature = t->shape_signature();
  const auto* dims = shape;
  if (signature != nullptr && (shape == nullptr || signature->size() == shape->size())) dims = signature;
  if (dims != nullptr) {
    for (flatbuffers::uoffset_t i = 0; i < dims->size(); ++i) {
      int32_t d = dims->Get(i);
      if (d < -1) return corrupt(where, "tensor \"" + info.name + "\" has dimension " + std::to_string(d));
      info.shape.push_back(d);
    }
  }
  return info;
}

// min_runtime_version is a metadata entry whose buffer holds a NUL-padded version string.
Result<std::string> buffer_text(const tflite::Model& model, uint32_t index, const uint8_t* file, size_t file_size,
                                const std::string& where) {
  const auto* buffers = model.buffers();
  if (buffers == nullptr || index >= buffers->size())
    return corrupt(where, "buffer index " + std::to_string(index) + " is out of range");
  const tflite::Buffer* b = buffers->Get(index);
  if (b == nullptr) return std::string();
  std::string_view bytes;
  if (b->data() != nullptr) {
    bytes = std::string_view(reinterpret_cast<const char*>(b->data()->data()), b->data()->size());
  } else if (b->offset() > 1) {
    // Large models keep buffers after the FlatBuffer; offset 1 is upstream's placeholder.
    uint64_t offset = b->offset(), size = b->size();
    if (offset > file_size || size > file_size - offset)
      return corrupt(where, "buffer " + std::to_string(index) + " lies outside the file");
    bytes = std::string_view(reinterpret_cast<const char*>(file + offset), static_cast<size_t>(size));
  }
  size_t end = bytes.find('\0');
  if (end != std::string_view::npos) bytes = bytes.substr(0, end);
  return model_text(bytes, kMaxRuntimeVersionBytes);
}

// Unmaps on every return path.
class Mapping {
 public:
  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }
  void reset(void* data, size_t size) {
    data_ = data;
    size_ = size;
  }
  const uint8_t* data() const { return static_cast<const uint8_t*>(data_); }
  size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

// Every check before the first accessor runs: size, identifier, the Verifier.
Status verify_tflite(const uint8_t* data, size_t size, const std::string& what) {
  if (data == nullptr || size < 8) return corrupt(what, "too short to be a TFLite model (" + std::to_string(size) + " bytes)");
  if (size > kMaxTfliteBytes)
    return corrupt(what, "larger than the " + std::to_string(kMaxTfliteBytes) + "-byte limit of a TFLite FlatBuffer");
  if (!flatbuffers::BufferHasIdentifier(data, tflite::ModelIdentifier()))
    return corrupt(what, "not a TFLite model (no \"TFL3\" identifier at offset 4)");
  flatbuffers::Verifier verifier(data, size, kMaxVerifierDepth, kMaxVerifierTables);
  if (!tflite::VerifyModelBuffer(verifier))
    return corrupt(what, "TFLite FlatBuffer failed verification (truncated or corrupted)");
  return OkStatus();
}

Status map_tflite_file(const std::string& path, Mapping& mapping) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return errno_status(path, e);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return errno_status(path, e);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return error(StatusCode::kInvalidArgument, path + ": not a regular file");
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    return corrupt(path, "too short to be a TFLite model (" + std::to_string(size) + " bytes)");
  }
  if (size > kMaxTfliteBytes) {
    ::close(fd);
    return corrupt(path, "larger than the " + std::to_string(kMaxTfliteBytes) + "-byte limit of a TFLite FlatBuffer");
  }
  void* map = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_PRIVATE, fd, 0);
  int map_errno = errno;
  ::close(fd);  // the mapping keeps the file open
  if (map == MAP_FAILED) return errno_status(path + ": mmap", map_errno);
  mapping.reset(map, static_cast<size_t>(size));
  return OkStatus();
}

}  // namespace

Result<ModelInfo> read_tflite_buffer(const uint8_t* data, size_t size, const std::string& what) {
  MC_RETURN_IF_ERROR(verify_tflite(data, size, what));
  const tflite::Model* model = tflite::GetModel(data);
  const auto* subgraphs = model->subgraphs();
  if (subgraphs == nullptr || subgraphs->size() == 0) return corrupt(what, "TFLite model has no subgraph");
  const tflite::SubGraph* graph = subgraphs->Get(0);
  if (graph == nullptr) return corrupt(what, "TFLite subgraph 0 is missing");

  ModelInfo info;
  info.format = "tflite";
  if (graph->inputs() != nullptr) {
    for (flatbuffers::uoffset_t i = 0; i < graph->inputs()->size(); ++i) {
      MC_ASSIGN_OR_RETURN(TensorInfo t, tensor_info(*graph, graph->inputs()->Get(i), what + ": input " + std::to_string(i)));
      info.inputs.push_back(std::move(t));
    }
  }
  if (graph->outputs() != nullptr) {
    for (flatbuffers::uoffset_t i = 0; i < graph->outputs()->size(); ++i) {
      MC_ASSIGN_OR_RETURN(TensorInfo t, tensor_info(*graph, graph->outputs()->Get(i), what + ": output " + std::to_string(i)));
      info.outputs.push_back(std::move(t));
    }
  }

  Json& meta = info.metadata;
  meta["tflite_schema_version"] = model->version();
  meta["subgraphs"] = subgraphs->size();
  meta["operators"] = graph->operators() != nullptr ? graph->operators()->size() : 0;
  if (model->description() != nullptr) meta["description"] = text(model->description(), kMaxDescriptionBytes);
  if (graph->name() != nullptr && graph->name()->size() > 0) meta["graph_name"] = text(graph->name(), kMaxNameBytes);
  if (const auto* entries = model->metadata(); entries != nullptr) {
    Json names = Json::array();
    for (flatbuffers::uoffset_t i = 0; i < entries->size() && i < kMaxMetadataEntries; ++i) {
      const tflite::Metadata* m = entries->Get(i);
      if (m == nullptr) continue;
      std::string name = text(m->name(), kMaxNameBytes);
      if (name == "min_runtime_version") {
        MC_ASSIGN_OR_RETURN(std::string version,
                            buffer_text(*model, m->buffer(), data, size, what + ": metadata \"min_runtime_version\""));
        if (!version.empty()) meta["min_runtime_version"] = version;
      }
      names.push_back(std::move(name));
    }
    meta["metadata_names"] = std::move(names);
  }
  if (const auto* signatures = model->signature_defs(); signatures != nullptr && signatures->size() > 0) {
    Json keys = Json::array();
    for (flatbuffers::uoffset_t i = 0; i < signatures->size() && i < kMaxMetadataEntries; ++i) {
      const tflite::SignatureDef* s = signatures->Get(i);
      if (s != nullptr) keys.push_back(text(s->signature_key(), kMaxNameBytes));
    }
    meta["signatures"] = std::move(keys);
  }
  return info;
}

Result<ModelInfo> read_tflite_file(const std::string& path) {
  Mapping mapping;
  MC_RETURN_IF_ERROR(map_tflite_file(path, mapping));
  return read_tflite_buffer(mapping.data(), mapping.size(), path);
}

Result<std::vector<TensorExtent>> read_tflite_tensor_extents(const std::string& path) {
  Mapping mapping;
  MC_RETURN_IF_ERROR(map_tflite_file(path, mapping));
  const uint8_t* data = mapping.data();
  const size_t size = mapping.size();
  MC_RETURN_IF_ERROR(verify_tflite(data, size, path));
  const tflite::Model* model = tflite::GetModel(data);
  const auto* buffers = model->buffers();
  const auto* subgraphs = model->subgraphs();
  std::vector<TensorExtent> out;
  if (buffers == nullptr || subgraphs == nullptr) return out;
  std::vector<bool> seen(buffers->size(), false);
  std::map<std::string, int> repeats;
  for (flatbuffers::uoffset_t g = 0; g < subgraphs->size(); ++g) {
    const tflite::SubGraph* graph = subgraphs->Get(g);
    if (graph == nullptr || graph->tensors() == nullptr) continue;
    for (const tflite::Tensor* t : *graph->tensors()) {
      // Buffer 0 is the empty sentinel every activation tensor points at.
      if (t == nullptr || t->buffer() == 0 || t->buffer() >= buffers->size() || seen[t->buffer()]) continue;
      seen[t->buffer()] = true;
      const tflite::Buffer* b = buffers->Get(t->buffer());
      if (b == nullptr) continue;
      TensorExtent e;
      if (b->data() != nullptr && b->data()->size() > 0) {
        e.offset = static_cast<uint64_t>(b->data()->data() - data);
        e.length = b->data()->size();
      } else if (b->offset() > 1 && b->size() > 0) {
        if (b->offset() > size || b->size() > size - b->offset())
          return corrupt(path, "buffer " + std::to_string(t->buffer()) + " lies outside the file");
        e.offset = b->offset();
        e.length = b->size();
      } else {
        continue;
      }
      e.name = text(t->name(), kMaxNameBytes);
      int n = ++repeats[e.name];
      if (n > 1) e.name += "#" + std::to_string(n);
      e.dtype = dtype_name(t->type());
      out.push_back(std::move(e));
    }
  }
  std::sort(out.begin(), out.end(), [](const TensorExtent& a, const TensorExtent& b) { return a.offset < b.offset; });
  return out;
}

bool looks_like_tflite(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char head[8];
  size_t got = 0;
  while (got < sizeof head) {
    ssize_t n = ::read(fd, head + got, sizeof head - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  return got == sizeof head && std::memcmp(head + 4, "TFL3", 4) == 0;
}

namespace {

// The identifier decides; a .tflite name without it is a damaged model, not another format.
Sniff sniff_tflite(const SniffInput& in) {
  if (in.folder) return Sniff::kNo;
  if (in.head.size() >= 8 && in.head.compare(4, 4, "TFL3") == 0) return Sniff::kYes;
  return model_extension(in.name) == "tflite" ? Sniff::kYes : Sniff::kNo;
}

}  // namespace

extern const ModelReader kTfliteReader = {"tflite", sniff_tflite, read_tflite_file, read_tflite_tensor_extents};

}  // namespace modelcast
