// A bounded reader of the protobuf wire format, for the model readers that need a few
// fields of a large message (TensorFlow GraphDef and SavedModel, Core ML) without
// libprotobuf: a device can afford it, and weights are skipped over, never copied.
//
// Every length is checked against the bytes that are left, so a lying length prefix
// ends the walk instead of reading past the buffer. Nesting is the caller's: it opens a
// new WireReader on a field's bytes, so the depth is exactly its own recursion, which
// each reader bounds. Groups (wire types 3 and 4, unused by proto3) are refused.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace modelcast {

enum WireType : uint8_t { kWireVarint = 0, kWireFixed64 = 1, kWireBytes = 2, kWireFixed32 = 5 };

struct WireField {
  uint32_t number = 0;
  uint8_t type = 0;
  uint64_t value = 0;      // varint, fixed32 and fixed64 fields
  std::string_view bytes;  // length-delimited fields: strings, messages, packed arrays
};

class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}

  // The next field with its value; false at the end of the bytes or on malformed input
  // (then ok() is false too).
  bool next(WireField* f) {
    if (bad_ || pos_ == data_.size()) return false;
    uint64_t tag = 0;
    if (!varint(&tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1FFFFFFF) return fail();
    f->number = static_cast<uint32_t>(tag >> 3);
    f->type = static_cast<uint8_t>(tag & 7);
    f->value = 0;
    f->bytes = std::string_view();
    switch (f->type) {
      case kWireVarint: return varint(&f->value) || fail();
      case kWireFixed64: return fixed(8, &f->value) || fail();
      case kWireFixed32: return fixed(4, &f->value) || fail();
      case kWireBytes: {
        uint64_t length = 0;
        if (!varint(&length) || length > data_.size() - pos_) return fail();
        f->bytes = data_.substr(pos_, static_cast<size_t>(length));
        pos_ += static_cast<size_t>(length);
        return true;
      }
      default: return fail();
    }
  }

  bool ok() const { return !bad_; }

 private:
  bool fail() {
    bad_ = true;
    return false;
  }
  bool varint(uint64_t* out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ == data_.size()) return false;
      const uint8_t b = static_cast<uint8_t>(data_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) {
        *out = v;
        return true;
      }
    }
    return false;  // more than ten bytes
  }
  bool fixed(size_t n, uint64_t* out) {
    if (data_.size() - pos_ < n) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    pos_ += n;
    *out = v;
    return true;
  }

  std::string_view data_;
  size_t pos_ = 0;
  bool bad_ = false;
};

// The int64 values of a repeated field in either encoding: one varint field, or the packed
// form (varints back to back in one length-delimited field). False on malformed bytes or
// when `out` would pass `max_count` values.
inline bool append_varints(const WireField& f, std::vector<int64_t>* out, size_t max_count) {
  if (f.type == kWireVarint) {
    if (out->size() >= max_count) return false;
    out->push_back(static_cast<int64_t>(f.value));
    return true;
  }
  if (f.type != kWireBytes) return false;
  // A packed run is varints back to back, with no tags.
  std::string_view rest = f.bytes;
  while (!rest.empty()) {
    uint64_t v = 0;
    size_t i = 0;
    int shift = 0;
    for (;; ++i, shift += 7) {
      if (i == rest.size() || shift >= 64) return false;
      const uint8_t b = static_cast<uint8_t>(rest[i]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) break;
    }
    if (out->size() >= max_count) return false;
    out->push_back(static_cast<int64_t>(v));
    rest.remove_prefix(i + 1);
  }
  return true;
}

}  // namespace modelcast
