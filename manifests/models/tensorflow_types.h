// What the TensorFlow readers (GraphDef, SavedModel) share: the DataType enum's names and
// TensorShapeProto. Field numbers are TensorFlow's (tensor_shape.proto, types.proto).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "modelcast/model_info.h"

namespace modelcast {

// The config's spelling of a TensorFlow DataType ("float32" for DT_FLOAT); reference types
// (value + 100) are their value type. Types a config cannot hold get TensorFlow's own name.
std::string tf_dtype_name(uint64_t type);

// Fills t.shape and t.ranked from a serialized TensorShapeProto: -1 for an unknown
// dimension, ranked = false for unknown_rank. False when the bytes do not parse or a
// dimension is below -1 or the rank above 256.
bool read_tf_shape(std::string_view shape_proto, TensorInfo& t);

}  // namespace modelcast
