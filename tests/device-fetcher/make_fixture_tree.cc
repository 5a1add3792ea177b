// Writes a small published tree for tests that cannot build one themselves (the C API
// test is plain C): OUT/tree (classifier v1 for android-arm64: model.bin zstd-encoded,
// labels.txt identity) and OUT/key.pub, the public key that signed it. OUT is emptied first.
#include <filesystem>
#include <iostream>

#include "fetch_test_util.h"

int main(int argc, char** argv) {
  using namespace modelcast::testing;
  if (argc != 2) {
    std::cerr << "usage: make_fixture_tree OUT\n";
    return 2;
  }
  try {
    std::string out = argv[1];
    std::filesystem::remove_all(out);
    std::filesystem::create_directories(out + "/tree");
    TreeFixture tree(out + "/tree");
    PublishSpec spec;
    spec.version = 1;
    spec.files = {{"model.bin", random_bytes(256 * 1024, 11), true}, {"labels.txt", "cat\ndog\n", false}};
    tree.publish(spec);
    write_all(out + "/key.pub", read_all(tree.pubkey_path()));
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
