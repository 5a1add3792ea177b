// TensorFlow frozen GraphDef reader (one serialized GraphDef, weights inlined as Const
// nodes), the way TensorFlow's own summarize_graph tool reads one:
// - inputs are the Placeholder (and PlaceholderWithDefault) nodes, dtype and shape from
//   their "dtype" and "shape" attributes;
// - outputs are the nodes no other node consumes, less Const, NoOp, Assign and the
//   placeholders. The format does not say which nodes are outputs, so these are
//   candidates: training leftovers match too.
// - output shapes exist only in the "_output_shapes" attribute a graph exported with
//   add_shapes=True carries; elsewhere the rank is unknown. Element types come from the
//   attribute the op's output type is named by ("T" for most).
// Weights are never looked at: a graph whose Const nodes are empty reads the same.

#include <algorithm>
#include <unordered_set>

#include "modelcast/model_readers.h"
#include "proto_model_file.h"
#include "proto_wire.h"
#include "tensorflow_types.h"

namespace modelcast {

namespace {

// Real graphs hold up to some hundred thousand nodes; the limits stop hostile files from
// making the reader hold millions of views.
constexpr size_t kMaxNodes = 1 << 20;
constexpr size_t kMaxEdges = 1 << 23;
constexpr size_t kMaxNameBytes = 1024;

// graph.proto, node_def.proto, attr_value.proto, versions.proto.
constexpr uint32_t kGraphNode = 1;
constexpr uint32_t kGraphLibrary = 2;
constexpr uint32_t kGraphVersions = 4;
constexpr uint32_t kVersionsProducer = 1;
constexpr uint32_t kNodeName = 1;
constexpr uint32_t kNodeOp = 2;
constexpr uint32_t kNodeInput = 3;
constexpr uint32_t kNodeAttr = 5;
constexpr uint32_t kMapKey = 1;
constexpr uint32_t kMapValue = 2;
constexpr uint32_t kAttrList = 1;
constexpr uint32_t kAttrType = 6;
constexpr uint32_t kAttrShape = 7;
constexpr uint32_t kListShape = 7;

// Attributes that name a node's output type, most specific first.
constexpr std::string_view kOutputTypeAttrs[] = {"DstT", "output_type", "out_type", "dtype", "T"};

Status corrupt(const std::string& what, const std::string& problem) {
  return error(StatusCode::kCorruption, what + ": " + problem);
}

// What the reader keeps of one node: views into the mapped file, nothing copied.
struct Node {
  std::string_view name, op;
  std::string_view attrs[std::size(kOutputTypeAttrs)];  // AttrValue bytes by kOutputTypeAttrs index
  std::string_view shape;                               // AttrValue of "shape"
  std::string_view output_shapes;                       // AttrValue of "_output_shapes"
};

bool is_placeholder(std::string_view op) { return op == "Placeholder" || op == "PlaceholderWithDefault"; }

// "^name" (a control input) and "name:N" (output N) both consume node "name".
std::string_view consumed_node(std::string_view input) {
  if (!input.empty() && input.front() == '^') input.remove_prefix(1);
  size_t colon = input.rfind(':');
  if (colon != std::string_view::npos &&
      std::all_of(input.begin() + static_cast<std::ptrdiff_t>(colon) + 1, input.end(),
                  [](char c) { return c >= '0' && c <= '9'; }))
    input = input.substr(0, colon);
  return input;
}

bool read_attr(std::string_view entry, Node& node) {
  std::string_view key, value;
  WireReader r(entry);
  WireField f;
  while (r.next(&f)) {
    if (f.number == kMapKey && f.type == kWireBytes) key = f.bytes;
    if (f.number == kMapValue && f.type == kWireBytes) value = f.bytes;
  }
  if (!r.ok()) return false;
  if (key == "shape") node.shape = value;
  if (key == "_output_shapes") node.output_shapes = value;
  for (size_t i = 0; i < std::size(kOutputTypeAttrs); ++i)
    if (key == kOutputTypeAttrs[i]) node.attrs[i] = value;
  return true;
}

bool read_node(std::string_view bytes, Node& node, std::vector<std::string_view>& consumed) {
  WireReader r(bytes);
  WireField f;
  while (r.next(&f)) {
    if (f.type != kWireBytes) continue;
    if (f.number == kNodeName) node.name = f.bytes;
    if (f.number == kNodeOp) node.op = f.bytes;
    if (f.number == kNodeInput) {
      if (consumed.size() >= kMaxEdges) return false;
      consumed.push_back(consumed_node(f.bytes));
    }
    if (f.number == kNodeAttr && !read_attr(f.bytes, node)) return false;
  }
  return r.ok();
}

// AttrValue.type, or "" when the attribute holds something else (a list of types).
bool attr_type(std::string_view attr, std::string* dtype) {
  WireReader r(attr);
  WireField f;
  while (r.next(&f))
    if (f.number == kAttrType && f.type == kWireVarint) *dtype = tf_dtype_name(f.value);
  return r.ok();
}

// AttrValue.shape, or the first shape of AttrValue.list (output 0 of "_output_shapes").
bool attr_shape(std::string_view attr, bool from_list, TensorInfo& t, bool* found) {
  WireReader r(attr);
  WireField f;
  while (r.next(&f)) {
    if (f.type != kWireBytes) continue;
    if (!from_list && f.number == kAttrShape) {
      *found = true;
      return read_tf_shape(f.bytes, t);
    }
    if (from_list && f.number == kAttrList) {
      WireReader list(f.bytes);
      WireField l;
      while (list.next(&l)) {
        if (l.number == kListShape && l.type == kWireBytes) {
          *found = true;
          return read_tf_shape(l.bytes, t);
        }
      }
      return list.ok();
    }
  }
  return r.ok();
}

Result<TensorInfo> tensor_of(const Node& node, bool input, const std::string& what) {
  TensorInfo t;
  t.name = model_text(node.name, kMaxNameBytes);
  const std::string where = what + ": node \"" + t.name + "\"";
  for (size_t i = 0; i < std::size(kOutputTypeAttrs) && t.dtype.empty(); ++i) {
    // A placeholder's type is its "dtype"; other ops name theirs in several ways.
    if (input && kOutputTypeAttrs[i] != "dtype") continue;
    if (!node.attrs[i].empty() && !attr_type(node.attrs[i], &t.dtype)) return corrupt(where, "bad type attribute");
  }
  bool found = false;
  if (input && !node.shape.empty() && !attr_shape(node.shape, false, t, &found))
    return corrupt(where, "bad \"shape\" attribute");
  if (!found && !node.output_shapes.empty() && !attr_shape(node.output_shapes, true, t, &found))
    return corrupt(where, "bad \"_output_shapes\" attribute");
  if (!found) {
    t.shape.clear();
    t.ranked = false;
  }
  return t;
}

}  // namespace

Result<ModelInfo> read_graphdef_buffer(std::string_view bytes, const std::string& what) {
  if (bytes.size() > kMaxProtobufModelBytes)
    return corrupt(what, "larger than the " + std::to_string(kMaxProtobufModelBytes) + "-byte limit of a GraphDef");
  std::vector<Node> nodes;
  std::vector<std::string_view> consumed;
  uint64_t producer = 0, functions = 0;
  WireReader graph(bytes);
  WireField f;
  while (graph.next(&f)) {
    if (f.type != kWireBytes) continue;
    if (f.number == kGraphNode) {
      if (nodes.size() >= kMaxNodes) return corrupt(what, "more than " + std::to_string(kMaxNodes) + " nodes");
      nodes.emplace_back();
      if (!read_node(f.bytes, nodes.back(), consumed)) return corrupt(what, "not a valid GraphDef (bad node)");
    } else if (f.number == kGraphLibrary) {
      functions = 1;
    } else if (f.number == kGraphVersions) {
      WireReader v(f.bytes);
      WireField vf;
      while (v.next(&vf))
        if (vf.number == kVersionsProducer && vf.type == kWireVarint) producer = vf.value;
      if (!v.ok()) return corrupt(what, "not a valid GraphDef (bad versions)");
    }
  }
  if (!graph.ok()) return corrupt(what, "not a valid GraphDef protobuf (truncated or corrupted)");
  if (nodes.empty()) return corrupt(what, "GraphDef has no nodes");

  const std::unordered_set<std::string_view> consumed_set(consumed.begin(), consumed.end());
  ModelInfo info;
  info.format = "graphdef";
  info.output_candidates = true;
  bool unknown_output_shape = false;
  for (const Node& node : nodes) {
    if (node.name.empty()) return corrupt(what, "a node has no name");
    if (is_placeholder(node.op)) {
      MC_ASSIGN_OR_RETURN(TensorInfo t, tensor_of(node, true, what));
      info.inputs.push_back(std::move(t));
    } else if (node.op != "Const" && node.op != "NoOp" && node.op != "Assign" && consumed_set.count(node.name) == 0) {
      MC_ASSIGN_OR_RETURN(TensorInfo t, tensor_of(node, false, what));
      unknown_output_shape = unknown_output_shape || !t.ranked;
      info.outputs.push_back(std::move(t));
    }
  }
  info.metadata["nodes"] = nodes.size();
  if (producer != 0 && producer <= static_cast<uint64_t>(kMaxSafeInteger)) info.metadata["tf_producer"] = producer;
  if (functions != 0) info.metadata["has_function_library"] = true;
  info.note = "outputs are candidates: the nodes no other node consumes (training leftovers match too)";
  if (unknown_output_shape)
    info.note += "; output shapes are unknown where the graph has no _output_shapes (export it with add_shapes=True)";
  return info;
}

Result<ModelInfo> read_graphdef_file(const std::string& path) {
  MC_ASSIGN_OR_RETURN(MappedFile file, map_protobuf_model(path, "GraphDef"));
  return read_graphdef_buffer(mapped_bytes(file), path);
}

namespace {

bool node_name_char(char c, bool first) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.') return true;
  return !first && (c == '_' || c == '>' || c == '/' || c == '-');
}

// A .pb is a GraphDef when it starts with a node (field 1) whose own first field is a name
// TensorFlow would accept; a SavedModel's saved_model.pb, fingerprint.pb or
// keras_metadata.pb start otherwise. The head may end inside the node: what is there must
// fit.
Sniff sniff_graphdef(const SniffInput& in) {
  if (in.folder || model_extension(in.name) != "pb") return Sniff::kNo;
  const size_t slash = in.name.find_last_of('/');
  if (in.name.substr(slash == std::string_view::npos ? 0 : slash + 1) == "saved_model.pb") return Sniff::kNo;
  if (in.head.size() < 4 || in.head[0] != '\x0a') return Sniff::kNo;
  // The node's length varint, then its name field's tag and length (both one byte for a
  // name under 128 bytes, which a first node's always is in practice).
  size_t pos = 1;
  while (pos < in.head.size() && (static_cast<uint8_t>(in.head[pos]) & 0x80) != 0 && pos < 6) ++pos;
  ++pos;
  if (pos + 2 > in.head.size() || in.head[pos] != '\x0a') return Sniff::kNo;
  const size_t name_length = static_cast<uint8_t>(in.head[pos + 1]);
  if (name_length == 0 || name_length >= 0x80) return Sniff::kNo;
  const std::string_view name = in.head.substr(pos + 2, name_length);
  for (size_t i = 0; i < name.size(); ++i)
    if (!node_name_char(name[i], i == 0)) return Sniff::kNo;
  return Sniff::kYes;
}

}  // namespace

extern const ModelReader kGraphdefReader = {"graphdef", sniff_graphdef, read_graphdef_file, nullptr};

}  // namespace modelcast
