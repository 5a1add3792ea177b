// ONNX reader: a model's graph inputs and outputs, producer and opsets, through libonnx's
// generated protobuf classes.
//
// The file is parsed from a stream, never slurped: protobuf reads it in chunks and the
// total-bytes limit is raised only to the file's own size, so a lying length prefix
// cannot make the parser read past what is there. Graph inputs that are also
// initializers are weights with defaults (older exporters list them), not what an app
// feeds, so they are left out.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/wire_format_lite.h>
#include <onnx/onnx_pb.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <map>
#include <set>

#include "model_inspect.h"
#include "modelcast/file_system.h"
#include "modelcast/model_readers.h"

namespace modelcast {

namespace {

// Protobuf cannot parse a message above INT_MAX bytes; weights beyond that live in
// external data files, which this reader does not need.
constexpr uint64_t kMaxOnnxBytes = INT_MAX;
constexpr size_t kMaxNameBytes = 1024;
constexpr size_t kMaxDocBytes = 16384;
constexpr size_t kMaxMetadataProps = 256;
// Nested messages in real models are a handful deep (graph, node, attribute, subgraph);
// protobuf's default of 100 guards the stack.
constexpr int kRecursionLimit = 100;

Status corrupt(const std::string& what, const std::string& problem) {
  return error(StatusCode::kCorruption, what + ": " + problem);
}

std::string text(const std::string& s, size_t max_bytes = kMaxNameBytes) { return model_text(s, max_bytes); }

// Integers in metadata must survive JSON readers exactly (see canonical_json.h).
Json safe_integer(int64_t v) {
  if (v > kMaxSafeInteger || v < -kMaxSafeInteger) return std::to_string(v);
  return v;
}

std::string elem_type_name(int32_t type) {
  using onnx::TensorProto;
  switch (type) {
    case TensorProto::FLOAT: return "float32";
    case TensorProto::UINT8: return "uint8";
    case TensorProto::INT8: return "int8";
    case TensorProto::UINT16: return "uint16";
    case TensorProto::INT16: return "int16";
    case TensorProto::INT32: return "int32";
    case TensorProto::INT64: return "int64";
    case TensorProto::STRING: return "string";
    case TensorProto::BOOL: return "bool";
    case TensorProto::FLOAT16: return "float16";
    case TensorProto::DOUBLE: return "float64";
    case TensorProto::UINT32: return "uint32";
    case TensorProto::UINT64: return "uint64";
    case TensorProto::COMPLEX64: return "complex64";
    case TensorProto::COMPLEX128: return "complex128";
    case TensorProto::BFLOAT16: return "bfloat16";
    case 21: return "uint4";  // added in ONNX 1.16, after Debian's libonnx 1.12
    case 22: return "int4";
    default: break;
  }
  if (type == TensorProto::UNDEFINED) return "undefined";
  return "onnx-type-" + std::to_string(type);
}

// Non-tensor values (sequences, maps, optionals) cannot be described by a config; they
// get a readable dtype so inspect shows them and config init can refuse them by name.
std::string type_name(const onnx::TypeProto& type, int depth = 0) {
  if (depth > 8) return "nested";
  switch (type.value_case()) {
    case onnx::TypeProto::kTensorType: return elem_type_name(type.tensor_type().elem_type());
    case onnx::TypeProto::kSparseTensorType: return "sparse(" + elem_type_name(type.sparse_tensor_type().elem_type()) + ")";
    case onnx::TypeProto::kSequenceType: return "sequence(" + type_name(type.sequence_type().elem_type(), depth + 1) + ")";
    case onnx::TypeProto::kOptionalType: return "optional(" + type_name(type.optional_type().elem_type(), depth + 1) + ")";
    case onnx::TypeProto::kMapType:
      return "map(" + elem_type_name(type.map_type().key_type()) + "," + type_name(type.map_type().value_type(), depth + 1) + ")";
    case onnx::TypeProto::kOpaqueType: return "opaque(" + text(type.opaque_type().name()) + ")";
    case onnx::TypeProto::VALUE_NOT_SET: break;
  }
  return "undefined";
}

Result<TensorInfo> value_info(const onnx::ValueInfoProto& v, const std::string& where) {
  TensorInfo t;
  t.name = text(v.name());
  t.dtype = type_name(v.type());
  const onnx::TensorShapeProto* shape = nullptr;
  if (v.type().has_tensor_type() && v.type().tensor_type().has_shape()) shape = &v.type().tensor_type().shape();
  if (v.type().has_sparse_tensor_type() && v.type().sparse_tensor_type().has_shape())
    shape = &v.type().sparse_tensor_type().shape();
  if (shape != nullptr) {
    for (const auto& dim : shape->dim()) {
      // A symbolic dimension ("batch") or one left unset is dynamic.
      if (dim.has_dim_value()) {
        if (dim.dim_value() < 0)
          return corrupt(where, "\"" + t.name + "\" has dimension " + std::to_string(dim.dim_value()));
        t.shape.push_back(dim.dim_value());
      } else {
        t.shape.push_back(-1);
      }
    }
  } else {
    t.ranked = false;
  }
  return t;
}

Result<onnx::ModelProto> parse_model(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return errno_status(path, e);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return error(StatusCode::kIOError, path + ": not a readable regular file");
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > kMaxOnnxBytes) {
    ::close(fd);
    return corrupt(path, "larger than the " + std::to_string(kMaxOnnxBytes) + "-byte limit of an ONNX protobuf");
  }
  onnx::ModelProto model;
  bool parsed = false, whole = false;
  {
    google::protobuf::io::FileInputStream raw(fd);
    google::protobuf::io::CodedInputStream coded(&raw);
    // The default limit is already INT_MAX; what matters is not allowing more than the
    // file holds, so a truncated file fails instead of waiting on a shorter stream.
    coded.SetTotalBytesLimit(static_cast<int>(size));
    coded.SetRecursionLimit(kRecursionLimit);
    parsed = model.ParseFromCodedStream(&coded);
    whole = parsed && coded.ConsumedEntireMessage();
  }
  ::close(fd);
  if (!parsed || !whole) return corrupt(path, "not a valid ONNX protobuf (truncated or corrupted)");
  return model;
}

Result<ModelInfo> model_info(const onnx::ModelProto& model, const std::string& path) {
  if (!model.has_graph()) return corrupt(path, "ONNX model has no graph");
  const onnx::GraphProto& graph = model.graph();
  ModelInfo info;
  info.format = "onnx";
  std::set<std::string> initializers;
  for (const auto& init : graph.initializer()) initializers.insert(init.name());
  for (const auto& init : graph.sparse_initializer()) {
    if (init.has_values()) initializers.insert(init.values().name());
  }
  for (int i = 0; i < graph.input_size(); ++i) {
    if (initializers.count(graph.input(i).name())) continue;
    MC_ASSIGN_OR_RETURN(TensorInfo t, value_info(graph.input(i), path + ": input " + std::to_string(i)));
    info.inputs.push_back(std::move(t));
  }
  for (int i = 0; i < graph.output_size(); ++i) {
    MC_ASSIGN_OR_RETURN(TensorInfo t, value_info(graph.output(i), path + ": output " + std::to_string(i)));
    info.outputs.push_back(std::move(t));
  }

  Json& meta = info.metadata;
  meta["ir_version"] = safe_integer(model.ir_version());
  if (!model.producer_name().empty()) meta["producer_name"] = text(model.producer_name());
  if (!model.producer_version().empty()) meta["producer_version"] = text(model.producer_version());
  if (!model.domain().empty()) meta["domain"] = text(model.domain());
  if (model.model_version() != 0) meta["model_version"] = safe_integer(model.model_version());
  if (!model.doc_string().empty()) meta["doc_string"] = text(model.doc_string(), kMaxDocBytes);
  if (!graph.name().empty()) meta["graph_name"] = text(graph.name());
  Json opsets = Json::object();
  for (const auto& opset : model.opset_import()) {
    // The empty domain is the default operator set, "ai.onnx".
    std::string domain = opset.domain().empty() ? "ai.onnx" : text(opset.domain());
    opsets[domain] = safe_integer(opset.version());
  }
  meta["opset_imports"] = std::move(opsets);
  if (model.metadata_props_size() > 0) {
    Json props = Json::object();
    for (int i = 0; i < model.metadata_props_size() && static_cast<size_t>(i) < kMaxMetadataProps; ++i)
      props[text(model.metadata_props(i).key())] = text(model.metadata_props(i).value(), kMaxDocBytes);
    meta["metadata_props"] = std::move(props);
  }
  return info;
}

using WireFormat = google::protobuf::internal::WireFormatLite;

// Field numbers of onnx.proto that lead to weight bytes.
constexpr int kModelGraph = 7;         // ModelProto.graph
constexpr int kGraphInitializer = 5;   // GraphProto.initializer
constexpr int kTensorDataType = 2;     // TensorProto.data_type
constexpr int kTensorFloatData = 4;    // TensorProto.float_data (packed little-endian floats)
constexpr int kTensorName = 8;         // TensorProto.name
constexpr int kTensorRawData = 9;      // TensorProto.raw_data

// Calls on_field(number, wire type) for each field of the message `in` is positioned in;
// on_field returns 1 when it consumed the value, 0 to have it skipped, -1 on bad input.
template <typename OnField>
bool each_field(google::protobuf::io::CodedInputStream& in, OnField on_field) {
  for (;;) {
    uint32_t tag = in.ReadTag();
    if (tag == 0) return in.ConsumedEntireMessage();
    int done = on_field(WireFormat::GetTagFieldNumber(tag), WireFormat::GetTagWireType(tag));
    if (done < 0 || (done == 0 && !WireFormat::SkipField(&in, tag))) return false;
  }
}

// Runs body() inside a length-delimited field, positioned at its first byte.
template <typename Body>
bool inside(google::protobuf::io::CodedInputStream& in, Body body) {
  uint32_t length = 0;
  if (!in.ReadVarint32(&length)) return false;
  auto limit = in.PushLimit(static_cast<int>(length));
  bool ok = body() && in.BytesUntilLimit() == 0;
  in.PopLimit(limit);
  return ok;
}

// One initializer: its name, type, and where raw_data (or packed float_data) lies.
bool scan_tensor(google::protobuf::io::CodedInputStream& in, std::vector<TensorExtent>& out) {
  TensorExtent t;
  int32_t type = 0;
  bool has_data = false;
  bool ok = each_field(in, [&](int number, WireFormat::WireType wire) -> int {
    if (number == kTensorDataType && wire == WireFormat::WIRETYPE_VARINT) {
      uint32_t v = 0;
      if (!in.ReadVarint32(&v)) return -1;
      type = static_cast<int32_t>(v);
      return 1;
    }
    if (number == kTensorName && wire == WireFormat::WIRETYPE_LENGTH_DELIMITED) {
      std::string name;
      if (!WireFormat::ReadString(&in, &name)) return -1;
      t.name = text(name);
      return 1;
    }
    if ((number == kTensorRawData || number == kTensorFloatData) && wire == WireFormat::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t length = 0;
      if (!in.ReadVarint32(&length)) return -1;
      t.offset = static_cast<uint64_t>(in.CurrentPosition());
      t.length = length;
      has_data = length > 0;
      return in.Skip(static_cast<int>(length)) ? 1 : -1;
    }
    return 0;
  });
  if (ok && has_data) {
    t.dtype = elem_type_name(type);
    out.push_back(std::move(t));
  }
  return ok;
}

}  // namespace

Result<ModelInfo> read_onnx_file(const std::string& path) {
  MC_ASSIGN_OR_RETURN(onnx::ModelProto model, parse_model(path));
  return model_info(model, path);
}

Result<ModelInfo> read_onnx_buffer(const uint8_t* data, size_t size, const std::string& what) {
  if (size > kMaxOnnxBytes)
    return corrupt(what, "larger than the " + std::to_string(kMaxOnnxBytes) + "-byte limit of an ONNX protobuf");
  onnx::ModelProto model;
  google::protobuf::io::CodedInputStream coded(data, static_cast<int>(size));
  coded.SetRecursionLimit(kRecursionLimit);
  if (!model.ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage())
    return corrupt(what, "not a valid ONNX protobuf (truncated or corrupted)");
  return model_info(model, what);
}

Result<std::vector<TensorExtent>> read_onnx_tensor_extents(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return error(e == ENOENT ? StatusCode::kNotFound : StatusCode::kIOError, path + ": " + std::strerror(e));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) > kMaxOnnxBytes) {
    ::close(fd);
    return error(StatusCode::kIOError, path + ": not a readable regular file of at most 2 GiB");
  }
  std::vector<TensorExtent> out;
  bool ok = false;
  {
    // Walks the wire format rather than parsing: only the offsets of the weight bytes are
    // wanted, and they are skipped over, never copied.
    google::protobuf::io::FileInputStream raw(fd);
    google::protobuf::io::CodedInputStream in(&raw);
    // No total-bytes limit: hitting it reads as a bad end of message; the file's own end
    // is the end (and a length prefix past it fails the skip).
    ok = each_field(in, [&](int number, WireFormat::WireType wire) -> int {
      if (number != kModelGraph || wire != WireFormat::WIRETYPE_LENGTH_DELIMITED) return 0;
      return inside(in, [&] {
               return each_field(in, [&](int n, WireFormat::WireType w) -> int {
                 if (n != kGraphInitializer || w != WireFormat::WIRETYPE_LENGTH_DELIMITED) return 0;
                 return inside(in, [&] { return scan_tensor(in, out); }) ? 1 : -1;
               });
             })
                 ? 1
                 : -1;
    });
  }
  ::close(fd);
  if (!ok) return corrupt(path, "not a valid ONNX protobuf (truncated or corrupted)");
  std::map<std::string, int> repeats;
  for (TensorExtent& t : out) {
    int n = ++repeats[t.name];
    if (n > 1) t.name += "#" + std::to_string(n);
  }
  return out;
}

namespace {

// The extension decides between "must be ONNX" and "might be": exporters serialise
// ir_version (field 1, tag byte 0x08) first, so an unnamed file is tried only when it
// starts that way with a version other than 0 (protobuf parses almost any bytes into
// unknown fields, so the version is what tells a model from noise). A .pb is TensorFlow's.
Sniff sniff_onnx(const SniffInput& in) {
  if (in.folder) return Sniff::kNo;
  const std::string ext = model_extension(in.name);
  if (ext == "onnx") return Sniff::kYes;
  if (ext == "pb") return Sniff::kNo;
  if (in.head.size() >= 2 && in.head[0] == '\x08' && in.head[1] != '\x00') return Sniff::kMaybe;
  return Sniff::kNo;
}

}  // namespace

extern const ModelReader kOnnxReader = {"onnx", sniff_onnx, read_onnx_file, read_onnx_tensor_extents};

}  // namespace modelcast
