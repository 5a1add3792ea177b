// A protobuf wire-format writer for the reader tests: builds the small GraphDefs,
// SavedModels and Core ML models the real files do not cover, field by field, with the
// field numbers the readers use (manifests/models/*_reader.cc). Writing the wire format
// directly keeps the tests free of generated classes, as the readers are.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace modelcast_test {

class Proto {
 public:
  Proto& varint(uint32_t field, uint64_t value) {
    put_varint((static_cast<uint64_t>(field) << 3) | 0);
    put_varint(value);
    return *this;
  }
  Proto& bytes(uint32_t field, std::string_view value) {
    put_varint((static_cast<uint64_t>(field) << 3) | 2);
    put_varint(value.size());
    out_.append(value.data(), value.size());
    return *this;
  }
  Proto& message(uint32_t field, const Proto& m) { return bytes(field, m.str()); }
  Proto& packed(uint32_t field, const std::vector<int64_t>& values) {
    Proto run;
    for (int64_t v : values) run.put_varint(static_cast<uint64_t>(v));
    return bytes(field, run.str());
  }
  // A map<string, V> entry: key = 1, value = 2.
  Proto& entry(uint32_t field, std::string_view key, const Proto& value) {
    return message(field, Proto().bytes(1, key).message(2, value));
  }
  const std::string& str() const { return out_; }

 private:
  void put_varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7F) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  std::string out_;
};

// TensorShapeProto: dim = 2 {size = 1}; -1 is an unknown dimension.
inline Proto tf_shape(const std::vector<int64_t>& dims) {
  Proto shape;
  for (int64_t d : dims) shape.message(2, Proto().varint(1, static_cast<uint64_t>(d)));
  return shape;
}

}  // namespace modelcast_test
