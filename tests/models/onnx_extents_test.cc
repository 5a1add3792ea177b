// Tensor extents of ONNX files (what weight-aware deltas align on): for every model of
// Debian's libonnx-testdata, the bytes at each reported extent are exactly the
// initializer's raw_data (or packed float_data) as protobuf parses it, and truncated
// files are refused rather than reported with extents past their end.

#include <doctest/doctest.h>

#include <filesystem>
#include <map>

#include "model_inspect.h"
#include "model_test_util.h"
#include <onnx/onnx_pb.h>

using namespace modelcast;
using namespace modelcast_test;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> onnx_models() {
  const char* env = std::getenv("MODELCAST_ONNX_TESTDATA");
  fs::path root = fs::path(env != nullptr && *env != '\0' ? env : "/usr/share/libonnx-testdata/data") / "pytorch-converted";
  std::vector<std::string> out;
  if (!fs::is_directory(root)) return out;
  for (const auto& entry : fs::directory_iterator(root))
    if (fs::exists(entry.path() / "model.onnx")) out.push_back((entry.path() / "model.onnx").string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("ONNX tensor extents point at exactly the bytes of each initializer's weights") {
  std::vector<std::string> models = onnx_models();
  if (models.empty()) {
    MESSAGE("skipped: libonnx-testdata is not installed");
    return;
  }
  size_t checked = 0;
  for (const std::string& path : models) {
    CAPTURE(path);
    const std::string bytes = read_all(path);
    onnx::ModelProto model;
    REQUIRE(model.ParseFromString(bytes));
    std::map<std::string, std::string> weights;  // name -> weight bytes
    for (const auto& init : model.graph().initializer()) {
      if (!init.raw_data().empty()) {
        weights[init.name()] = init.raw_data();
      } else if (init.float_data_size() > 0) {
        weights[init.name()] = std::string(reinterpret_cast<const char*>(init.float_data().data()),
                                           static_cast<size_t>(init.float_data_size()) * 4);
      }
    }
    Result<std::vector<TensorExtent>> extents = read_tensor_extents(path);
    REQUIRE_MESSAGE(extents.ok(), extents.status().message());
    CHECK(extents->size() == weights.size());
    for (const TensorExtent& e : extents.value()) {
      CAPTURE(e.name);
      REQUIRE(e.offset + e.length <= bytes.size());
      REQUIRE(weights.count(e.name) == 1);
      CHECK(bytes.compare(e.offset, e.length, weights[e.name]) == 0);
      ++checked;
    }
    // Cut inside the last weight: refused, never an extent past the end.
    if (!extents->empty()) {
      TempDir dir;
      const TensorExtent& last = extents->back();
      write_all(dir / "cut.onnx", bytes.substr(0, last.offset + last.length / 2));
      Result<std::vector<TensorExtent>> cut = read_tensor_extents(dir / "cut.onnx");
      CHECK_FALSE(cut.ok());
    }
  }
  MESSAGE(checked << " initializers checked in " << models.size() << " models");
  CHECK(checked > 50);  // 84 in the Debian 12 package
}

TEST_CASE("files that are neither TFLite nor ONNX have no tensor extents") {
  TempDir dir;
  write_all(dir / "labels.txt", "cat\ndog\n");
  Result<std::vector<TensorExtent>> r = read_tensor_extents(dir / "labels.txt");
  REQUIRE(r.ok());
  CHECK(r->empty());
}
