// An app using the installed C++ API: lists a cache another program filled.
// Usage: consumer_cxx CACHE_DIR. Prints "<model> v<version>" per model.
#include <iostream>

#include <modelcast/cache_admin.h>
#include <modelcast/fetcher.h>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto listed = modelcast::list_cached_models(argv[1]);
  if (!listed.ok()) {
    std::cerr << listed.status().message() << "\n";
    return 1;
  }
  for (const auto& m : listed.value()) {
    auto opened = modelcast::open_cached_model(argv[1], m.model);
    std::cout << m.model << " v" << (opened.ok() ? opened->version : 0) << "\n";
  }
  return 0;
}
