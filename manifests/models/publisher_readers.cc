// The publisher's reader table: what a device reads, then the readers that need
// libprotobuf. A device-safe row belongs in device_readers.cc, never here.

#include "model_inspect.h"

namespace modelcast {

extern const ModelReader kOnnxReader;

const ModelReaders& publisher_model_readers() {
  static const ModelReaders kReaders = [] {
    ModelReaders readers = device_model_readers();
    readers.push_back(&kOnnxReader);
    return readers;
  }();
  return kReaders;
}

}  // namespace modelcast
