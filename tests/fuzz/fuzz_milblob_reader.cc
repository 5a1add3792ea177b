// Fuzz target: read_milblob_tensor_extents, the walk over a Core ML weight.bin's metadata
// chain whose extents the publisher's xform planner compares tensor by tensor.
//
// Input: byte 0 chooses how the rest is used. Even: the rest is the file (any bytes). Odd:
// the rest describes tensors (two bytes each: a dtype code and a length in 8-byte units),
// written as a valid weight.bin, then byte 1 picks a position to damage, so the fuzzer
// reaches deep into long chains.
//
// What it proves, for any bytes: the reader returns kCorruption or extents, never crashes,
// loops or reads outside the file (ASan + UBSan); extents lie inside the file, 64-byte
// aligned, in file order and not overlapping; a valid chain gives back every tensor.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "modelcast/fs.h"
#include "modelcast/xform_encode.h"

namespace {

std::string scratch() { return "/tmp/modelcast-fuzz-milblob." + std::to_string(::getpid()); }

void put_le(std::string& out, uint64_t value, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

void pad_to_64(std::string& out) { out.resize((out.size() + 63) / 64 * 64, '\0'); }

// A valid weight.bin from (dtype, length/8) pairs; the tensor count through *count.
std::string valid_file(const uint8_t* data, size_t size, size_t* count) {
  std::string out;
  *count = size / 2;
  put_le(out, *count, 4);
  put_le(out, 2, 4);
  pad_to_64(out);
  for (size_t i = 0; i < *count; ++i) {
    const uint64_t length = 8ull * data[2 * i + 1];
    put_le(out, 0xDEADBEEF, 4);
    put_le(out, data[2 * i], 4);
    put_le(out, length, 8);
    put_le(out, out.size() + 64 - 16, 8);  // the data follows this 64-byte entry
    put_le(out, 0, 8);
    pad_to_64(out);
    out.append(length, static_cast<char>(i));
    pad_to_64(out);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool structured = data[0] & 1;
  std::string file;
  size_t expected = 0;
  if (!structured) {
    file.assign(reinterpret_cast<const char*>(data + 1), size - 1);
  } else if (size >= 2) {
    file = valid_file(data + 2, size - 2, &expected);
    if (data[1] != 0 && !file.empty()) {
      file[data[1] * 7 % file.size()] ^= static_cast<char>(data[1]);
      expected = SIZE_MAX;  // damaged: any outcome but a crash is fine
    }
  }
  // Written without fsync: nothing here needs to survive a crash, and speed is coverage.
  const std::string path = scratch();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return 0;
  const bool written = modelcast::write_all(fd, file, path).ok();
  ::close(fd);
  if (!written) return 0;
  modelcast::Result<std::vector<modelcast::TensorExtent>> r = modelcast::read_milblob_tensor_extents(path);
  ::unlink(path.c_str());
  if (!r.ok()) {
    if (r.status().code() != modelcast::StatusCode::kCorruption) std::abort();
    if (structured && expected != SIZE_MAX && expected > 0) std::abort();  // a valid chain was refused
    return 0;
  }
  uint64_t end = 0;
  for (const auto& t : r.value()) {
    if (t.offset % 64 != 0 || t.offset < end || t.offset > file.size() || t.length > file.size() - t.offset) std::abort();
    end = t.offset + t.length;
  }
  if (structured && expected != SIZE_MAX && r->size() != expected) std::abort();
  return 0;
}
