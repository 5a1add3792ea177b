// Fuzz target: read_tflite_buffer, the TFLite reader a device runs on every downloaded
// model before it may become current.
//
// What it proves, for any bytes: the reader returns kCorruption or a ModelInfo, never
// reads outside the buffer, never crashes, loops or aborts (ASan + UBSan); whatever it
// returns is safe to print (every string survives nlohmann's strict UTF-8 dump); and a
// config describing exactly the model it read fits that model, so a reader/checker
// disagreement cannot make a device refuse a good model.
#include <cstdint>

#include "fuzz_model_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return modelcast::check_reader_result(modelcast::read_tflite_buffer(data, size, "fuzz.tflite"), "fuzz.tflite");
}
