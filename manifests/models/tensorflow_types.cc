// TensorFlow's DataType names and TensorShapeProto, as the GraphDef and SavedModel readers
// need them.

#include "tensorflow_types.h"

#include "proto_wire.h"

namespace modelcast {

namespace {

// TensorFlow itself refuses ranks above 254; a longer list is not a shape.
constexpr size_t kMaxTfRank = 256;

// TensorShapeProto and its Dim (tensor_shape.proto).
constexpr uint32_t kShapeDim = 2;
constexpr uint32_t kShapeUnknownRank = 3;
constexpr uint32_t kDimSize = 1;

}  // namespace

std::string tf_dtype_name(uint64_t type) {
  if (type > 100 && type < 200) type -= 100;  // DT_FLOAT_REF and friends
  switch (type) {
    case 0: return "undefined";
    case 1: return "float32";
    case 2: return "float64";
    case 3: return "int32";
    case 4: return "uint8";
    case 5: return "int16";
    case 6: return "int8";
    case 7: return "string";
    case 8: return "complex64";
    case 9: return "int64";
    case 10: return "bool";
    case 11: return "qint8";
    case 12: return "quint8";
    case 13: return "qint32";
    case 14: return "bfloat16";
    case 15: return "qint16";
    case 16: return "quint16";
    case 17: return "uint16";
    case 18: return "complex128";
    case 19: return "float16";
    case 20: return "resource";
    case 21: return "variant";
    case 22: return "uint32";
    case 23: return "uint64";
    case 24: return "float8_e5m2";
    case 25: return "float8_e4m3fn";
    case 26: return "float8_e4m3fnuz";
    case 27: return "float8_e4m3b11fnuz";
    case 28: return "float8_e5m2fnuz";
    case 29: return "int4";
    case 30: return "uint4";
    default: break;
  }
  // A type added upstream after this list: report it, do not guess.
  return "tf-type-" + std::to_string(type);
}

bool read_tf_shape(std::string_view shape_proto, TensorInfo& t) {
  t.shape.clear();
  t.ranked = true;
  bool unknown_rank = false;
  WireReader shape(shape_proto);
  WireField f;
  while (shape.next(&f)) {
    if (f.number == kShapeUnknownRank && f.type == kWireVarint) {
      unknown_rank = f.value != 0;
    } else if (f.number == kShapeDim && f.type == kWireBytes) {
      if (t.shape.size() >= kMaxTfRank) return false;
      int64_t size = 0;  // proto3 leaves a zero size out; an unknown one is written as -1
      WireReader dim(f.bytes);
      WireField d;
      while (dim.next(&d))
        if (d.number == kDimSize && d.type == kWireVarint) size = static_cast<int64_t>(d.value);
      if (!dim.ok() || size < -1) return false;
      t.shape.push_back(size);
    }
  }
  if (!shape.ok()) return false;
  if (unknown_rank) {
    t.shape.clear();
    t.ranked = false;
  }
  return true;
}

}  // namespace modelcast
