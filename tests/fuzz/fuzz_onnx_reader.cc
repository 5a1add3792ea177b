// Fuzz target: read_onnx_buffer, the ONNX reader behind `modelcast config init` and
// `modelcast inspect` (publisher side; the models come from users and CI artifacts).
//
// What it proves, for any bytes: the reader returns kCorruption or a ModelInfo, never
// crashes, loops or aborts under ASan + UBSan (protobuf's recursion and size limits hold);
// every string it returns survives nlohmann's strict UTF-8 dump, so inspect --json cannot
// throw; and a config describing exactly the model it read fits that model.
#include <cstdint>

#include "fuzz_model_checks.h"
#include "model_inspect.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return modelcast::check_reader_result(modelcast::read_onnx_buffer(data, size, "fuzz.onnx"), "fuzz.onnx");
}
