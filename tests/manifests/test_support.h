// Helpers shared by the manifest tests: where the golden vectors live, the committed TEST
// key, and a fixed clock. Tests never read the wall clock, so vectors cannot rot.
#pragma once

#include <dirent.h>

#include <algorithm>
#include <string>
#include <vector>

#include "modelcast/fs.h"
#include "modelcast/names.h"
#include "modelcast/signed_manifest.h"

namespace modelcast::testing {

// The instant the vectors are judged at (manifests/vectors/README.md).
constexpr int64_t kVectorsNow = 1798761600;  // 2027-01-01T00:00:00Z

inline std::string vectors_dir() { return std::string(MODELCAST_SOURCE_DIR) + "/manifests/vectors"; }

inline std::string slurp(const std::string& path) {
  auto r = read_file(path, 8 << 20);
  if (!r.ok()) throw std::runtime_error(r.status().message());
  return r.value();
}

// Sorted names in `dir` ending in `suffix`, without the suffix.
inline std::vector<std::string> names_with_suffix(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
        out.push_back(n.substr(0, n.size() - suffix.size()));
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline PublicKey test_public_key() { return PublicKey::from_pem_file(vectors_dir() + "/test-key.pub").value(); }
inline PrivateKey test_private_key() { return PrivateKey::from_pem_file(vectors_dir() + "/test-key.pem").value(); }

inline std::string valid_vector(const std::string& name) { return slurp(vectors_dir() + "/valid/" + name + ".json"); }

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace modelcast::testing
