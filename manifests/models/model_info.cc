// Whether a config fits the model it ships with, and the text hygiene both model readers
// share. Used by the publisher before it signs and by the device before a version
// becomes current, so the messages name the tensor and both values: they end up in a
// CI log or in the fetcher's last_error.

#include <string>

#include "modelcast/model_info.h"
#include "modelcast/utf8.h"

namespace modelcast {

namespace {

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ",";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

std::string names_text(const std::vector<TensorInfo>& tensors) {
  if (tensors.empty()) return "none";
  std::string out;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (i > 0) out += ", ";
    out += quoted(tensors[i].name);
  }
  return out;
}

const TensorInfo* find_tensor(const std::vector<TensorInfo>& tensors, const std::string& name) {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

Status mismatch(const std::string& model_file, const std::string& message) {
  return error(StatusCode::kConfigMismatch, model_file + ": " + message);
}

// Labels the model carries itself (a classifier's class names) are what the app will be
// told; a config that names them otherwise would mislabel every prediction.
Status check_labels(const std::vector<std::string>& configured, const std::vector<std::string>& carried,
                    const std::string& what, const std::string& model_file) {
  if (carried.empty()) return OkStatus();
  if (configured.size() != carried.size())
    return mismatch(model_file, what + ": " + std::to_string(configured.size()) + " labels but the model carries " +
                                    std::to_string(carried.size()));
  for (size_t i = 0; i < carried.size(); ++i) {
    if (configured[i] != carried[i])
      return mismatch(model_file, what + ": label " + std::to_string(i) + " is " + quoted(configured[i]) +
                                      " but the model's is " + quoted(carried[i]));
  }
  return OkStatus();
}

Status check_tensors(const std::vector<TensorSpec>& configured, const std::vector<TensorInfo>& actual, const char* kind,
                     const std::string& model_file) {
  const std::string plural = std::string(kind) + "s";
  if (configured.size() > actual.size())
    return mismatch(model_file, "config lists " + std::to_string(configured.size()) + " " + plural + " but the model has " +
                                    std::to_string(actual.size()) + " (" + names_text(actual) + ")");
  for (const auto& spec : configured) {
    const std::string what = std::string("config ") + kind + " " + quoted(spec.name);
    const TensorInfo* t = find_tensor(actual, spec.name);
    if (t == nullptr)
      return mismatch(model_file, what + ": the model has no " + kind + " of that name (its " + plural + ": " +
                                      names_text(actual) + ")");
    if (!t->dtype.empty() && spec.dtype != t->dtype)
      return mismatch(model_file, what + ": dtype " + quoted(spec.dtype) + " but the model's is " + quoted(t->dtype));
    // A model that leaves the rank open accepts any shape the config settles on; the
    // labels are then held against the config's shape.
    const std::vector<int64_t>& model_shape = t->ranked ? t->shape : spec.shape;
    if (t->ranked && spec.shape.size() != t->shape.size())
      return mismatch(model_file, what + ": shape " + shape_text(spec.shape) + " has rank " +
                                      std::to_string(spec.shape.size()) + " but the model's " + shape_text(t->shape) +
                                      " has rank " + std::to_string(t->shape.size()));
    // Labels before dimensions: "3 labels but 2 classes" says more than "dimension 1: 3 vs 2".
    // Neither the model nor the config says the shape (a GraphDef without _output_shapes):
    // there is no class dimension to hold the labels against, only the model's own labels.
    if (!spec.labels.empty() && !t->ranked && spec.shape.empty()) {
      MC_RETURN_IF_ERROR(check_labels(spec.labels, t->labels, what, model_file));
    } else if (!spec.labels.empty()) {
      if (model_shape.empty())
        return mismatch(model_file, what + ": " + std::to_string(spec.labels.size()) +
                                        " labels but the output is a scalar, with no class dimension");
      // The class dimension is the last one; when the model leaves it dynamic, the
      // config's own shape may still fix it.
      int64_t classes = model_shape.back();
      if (classes == -1) classes = spec.shape.back();
      if (classes != -1 && static_cast<int64_t>(spec.labels.size()) != classes)
        return mismatch(model_file, what + ": " + std::to_string(spec.labels.size()) +
                                        " labels but the model's class dimension is " + std::to_string(classes));
      MC_RETURN_IF_ERROR(check_labels(spec.labels, t->labels, what, model_file));
    }
    for (size_t i = 0; t->ranked && i < spec.shape.size(); ++i) {
      // -1 on either side is a dynamic dimension: the runtime resolves it, so it fits.
      if (spec.shape[i] == -1 || t->shape[i] == -1 || spec.shape[i] == t->shape[i]) continue;
      return mismatch(model_file, what + ": shape " + shape_text(spec.shape) + " does not match the model's " +
                                      shape_text(t->shape) + " (dimension " + std::to_string(i) + ": " +
                                      std::to_string(spec.shape[i]) + " vs " + std::to_string(t->shape[i]) + ")");
    }
  }
  return OkStatus();
}

}  // namespace

Status check_config_fits(const ModelConfig& config, const ModelInfo& model, const std::string& model_file) {
  // An opaque file (labels, weights, an archive) says nothing about its tensors; the
  // config is the only description there is.
  if (model.format == "opaque") return OkStatus();
  MC_RETURN_IF_ERROR(check_tensors(config.inputs, model.inputs, "input", model_file));
  MC_RETURN_IF_ERROR(check_tensors(config.outputs, model.outputs, "output", model_file));
  return OkStatus();
}

std::string model_text(std::string_view raw, size_t max_bytes) {
  static const char kReplacement[] = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(raw.size() < max_bytes ? raw.size() : max_bytes);
  for (size_t i = 0; i < raw.size();) {
    size_t n = utf8_sequence(raw, i);
    std::string_view piece = n == 0 ? std::string_view(kReplacement, 3) : raw.substr(i, n);
    if (out.size() + piece.size() > max_bytes) break;
    out.append(piece.data(), piece.size());
    i += n == 0 ? 1 : n;
  }
  return out;
}

std::vector<std::string> label_lines(std::string_view raw) {
  constexpr size_t kMaxLabelBytes = 1024;
  std::vector<std::string> labels;
  size_t start = 0;
  while (start < raw.size()) {
    size_t end = raw.find('\n', start);
    if (end == std::string_view::npos) end = raw.size();
    std::string_view line = raw.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    labels.push_back(model_text(line, kMaxLabelBytes));
    start = end + 1;
  }
  while (!labels.empty() && labels.back().empty()) labels.pop_back();
  return labels;
}

}  // namespace modelcast
