// Fuzz target: read_mlmodel_buffer, the Core ML .mlmodel reader (description, metadata,
// classifier labels, an ML Program's classify op, nested pipelines), a bounded protobuf
// wire walk that a device also runs before a version becomes current.
//
// What it proves, for any bytes: kCorruption or a ModelInfo, never a read outside the
// buffer, a crash, a loop or an abort (ASan + UBSan); what it returns is safe to print;
// and a config describing exactly what it read fits it.
#include <cstdint>
#include <string_view>

#include "fuzz_model_checks.h"
#include "modelcast/model_readers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  return modelcast::check_reader_result(modelcast::read_mlmodel_buffer(bytes, "fuzz.mlmodel"), "fuzz.mlmodel");
}
