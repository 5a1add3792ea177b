// `modelcast config init` and `modelcast inspect`.
//
// config init writes the config a data scientist would otherwise type by hand, from what
// the model file says about itself. Its output goes through config_from_json and
// check_config_fits before it is printed, so what it prints is a config `modelcast
// publish` accepts as it is; whatever cannot be read from the model (labels of an opaque
// file, the rank of an unranked tensor) is said on stderr, not guessed silently.

#include "model_commands.h"

#include <cerrno>
#include <cstdio>
#include <iostream>
#include <memory>
#include <set>

#include "model_inspect.h"
#include "modelcast/canonical_json.h"
#include "modelcast/file_system.h"
#include "modelcast/fs.h"
#include "modelcast/manifest.h"
#include "modelcast/model_info.h"
#include "modelcast/names.h"

namespace modelcast {

namespace {

constexpr size_t kMaxLabelsFileBytes = 16 << 20;

int fail(const Status& s) {
  std::cerr << "error: " << s.message() << "\n";
  return 1;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? "," : "") + std::to_string(shape[i]);
  return out + "]";
}

// The labels file may be a pipe (`--labels <(...)`): config init holds no tree lock, so a
// read that waits for its writer holds up nobody. (Commands that read while holding the
// lock refuse anything but a regular file.)
Result<std::string> read_labels_text(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!in) return errno_status(path, errno);
  std::string out;
  char buf[65536];
  while (size_t n = std::fread(buf, 1, sizeof buf, in.get())) {
    if (out.size() + n > kMaxLabelsFileBytes)
      return error(StatusCode::kCorruption, path + ": larger than the limit of " + std::to_string(kMaxLabelsFileBytes) + " bytes");
    out.append(buf, n);
  }
  if (std::ferror(in.get())) return errno_status(path, errno);
  return out;
}

// One label per line; a trailing newline or CRLF line ends are not labels.
Result<std::vector<std::string>> read_labels(const std::string& path) {
  MC_ASSIGN_OR_RETURN(std::string raw, read_labels_text(path));
  std::vector<std::string> labels = label_lines(raw);
  if (labels.empty()) return error(StatusCode::kInvalidArgument, path + ": no labels (one per line expected)");
  if (labels.size() > kMaxLabels)
    return error(StatusCode::kInvalidArgument, path + ": more than " + std::to_string(kMaxLabels) + " labels");
  return labels;
}

Result<TensorSpec> spec_from(const TensorInfo& t, const char* kind, const std::string& model_file) {
  const std::string what = model_file + ": " + kind + " \"" + t.name + "\"";
  if (t.name.empty()) return error(StatusCode::kInvalidArgument, model_file + ": a model " + kind + " has no name");
  for (char c : t.name)
    if (static_cast<unsigned char>(c) < 0x20)
      return error(StatusCode::kInvalidArgument, what + ": name contains control characters a config cannot hold");
  if (!is_known_dtype(t.dtype))
    return error(StatusCode::kInvalidArgument,
                 what + ": element type \"" + t.dtype + "\" cannot be described by a config (tensors only)");
  if (t.shape.size() > kMaxRank)
    return error(StatusCode::kInvalidArgument, what + ": rank " + std::to_string(t.shape.size()) + " is above " +
                                                   std::to_string(kMaxRank));
  if (!t.ranked)
    std::cerr << "warning: " << what << ": the model does not fix its rank; wrote shape [], edit it to the shape the app uses\n";
  TensorSpec spec;
  spec.name = t.name;
  spec.dtype = t.dtype;
  spec.shape = t.shape;
  spec.labels = t.labels;
  return spec;
}

// The outputs a config describes: those named by --outputs, or else all of them, less the
// candidates a config cannot describe (a GraphDef node whose element type is not stated).
Result<std::vector<const TensorInfo*>> chosen_outputs(const ModelInfo& model, const ConfigInitOptions& options) {
  std::vector<const TensorInfo*> out;
  if (!options.outputs.empty()) {
    for (const std::string& name : options.outputs) {
      const TensorInfo* found = nullptr;
      for (const auto& t : model.outputs)
        if (t.name == name) found = &t;
      if (found == nullptr) {
        std::string names;
        for (const auto& t : model.outputs) names += (names.empty() ? "\"" : ", \"") + t.name + "\"";
        return error(StatusCode::kInvalidArgument, "--outputs: the model has no output \"" + name + "\" (its outputs: " +
                                                       (names.empty() ? "none" : names) + ")");
      }
      out.push_back(found);
    }
    return out;
  }
  for (const auto& t : model.outputs) {
    if (model.output_candidates && !is_known_dtype(t.dtype)) {
      std::cerr << "warning: " << options.model_file << ": left out output candidate \"" << t.name
                << "\": the graph does not state its element type\n";
      continue;
    }
    out.push_back(&t);
  }
  if (model.output_candidates && out.size() > 1)
    std::cerr << "warning: " << options.model_file << ": the format does not say which nodes are outputs; the "
              << out.size() << " listed are the nodes nothing consumes: keep the ones the app reads (--outputs)\n";
  return out;
}

// Labels belong to the output whose last (class) dimension has as many entries; failing
// that, to the one output whose shape the model does not say (`unranked`, by index).
Status attach_labels(std::vector<TensorSpec>& outputs, const std::vector<bool>& unranked, std::vector<std::string> labels,
                     const std::string& labels_file) {
  const int64_t count = static_cast<int64_t>(labels.size());
  std::vector<size_t> exact, dynamic, shapeless;
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (unranked[i]) shapeless.push_back(i);
    if (outputs[i].shape.empty()) continue;
    if (outputs[i].shape.back() == count) exact.push_back(i);
    if (outputs[i].shape.back() == -1) dynamic.push_back(i);
  }
  if (exact.empty() && dynamic.empty() && shapeless.size() == 1) {
    TensorSpec& chosen = outputs[shapeless.front()];
    std::cerr << "warning: output \"" << chosen.name << "\" has no shape in the model; attached the " << count
              << " labels of " << labels_file << " to it, unchecked against a class dimension\n";
    chosen.labels = std::move(labels);
    return OkStatus();
  }
  const std::vector<size_t>& candidates = exact.empty() ? dynamic : exact;
  if (candidates.empty()) {
    std::string shapes;
    for (const auto& o : outputs) shapes += (shapes.empty() ? "" : ", ") + ("\"" + o.name + "\" " + shape_text(o.shape));
    return error(StatusCode::kConfigMismatch, labels_file + ": " + std::to_string(count) +
                                                  " labels but no model output has a class dimension of " +
                                                  std::to_string(count) + " (outputs: " + (shapes.empty() ? "none" : shapes) +
                                                  ")");
  }
  TensorSpec& chosen = outputs[candidates.front()];
  if (candidates.size() > 1)
    std::cerr << "warning: " << candidates.size() << " outputs could take the " << count << " labels of " << labels_file
              << "; attached them to the first, \"" << chosen.name << "\": move them if that is wrong\n";
  else if (exact.empty())
    std::cerr << "warning: output \"" << chosen.name << "\" has a dynamic class dimension; attached the " << count
              << " labels of " << labels_file << " to it\n";
  chosen.labels = std::move(labels);
  return OkStatus();
}

Result<std::vector<std::string>> parse_features(const std::vector<std::string>& raw) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& item : raw) {
    size_t start = 0;
    // Accept both repeated --features and one comma-separated list.
    while (start <= item.size()) {
      size_t comma = item.find(',', start);
      if (comma == std::string::npos) comma = item.size();
      std::string name = item.substr(start, comma - start);
      start = comma + 1;
      if (name.empty()) continue;
      MC_RETURN_IF_ERROR(check_name(name, "--features \"" + name + "\""));
      if (seen.insert(name).second) out.push_back(name);
    }
  }
  if (out.size() > kMaxFeatures)
    return error(StatusCode::kInvalidArgument, "--features: more than " + std::to_string(kMaxFeatures) + " features");
  return out;
}

Json tensors_json(const std::vector<TensorInfo>& tensors) {
  Json out = Json::array();
  for (const auto& t : tensors) {
    Json j = {{"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}};
    if (!t.ranked) j["ranked"] = false;
    if (!t.labels.empty()) j["labels"] = t.labels;
    out.push_back(std::move(j));
  }
  return out;
}

void print_tensors(const char* title, const std::vector<TensorInfo>& tensors) {
  std::cout << "  " << title << ":" << (tensors.empty() ? " none" : "") << "\n";
  for (const auto& t : tensors) {
    std::cout << "    " << t.name << "  " << (t.dtype.empty() ? std::string("(type not stated)") : t.dtype) << "  "
              << (t.ranked ? shape_text(t.shape) : std::string("(any rank)"));
    if (!t.labels.empty()) std::cout << "  " << t.labels.size() << " labels";
    std::cout << "\n";
  }
}

}  // namespace

Result<Json> config_init_json(const ConfigInitOptions& options) {
  MC_ASSIGN_OR_RETURN(ModelInfo model, inspect_model_file(options.model_file));
  ModelConfig config;
  for (const auto& t : model.inputs) {
    MC_ASSIGN_OR_RETURN(TensorSpec s, spec_from(t, "input", options.model_file));
    config.inputs.push_back(std::move(s));
  }
  MC_ASSIGN_OR_RETURN(std::vector<const TensorInfo*> outputs, chosen_outputs(model, options));
  std::vector<bool> unranked;
  for (const TensorInfo* t : outputs) {
    MC_ASSIGN_OR_RETURN(TensorSpec s, spec_from(*t, "output", options.model_file));
    config.outputs.push_back(std::move(s));
    unranked.push_back(!t->ranked);
  }
  if (model.format == "opaque") {
    std::cerr << "warning: " << options.model_file << ": " << model.note
              << "; inputs and outputs are left empty for you to describe\n";
  }
  if (!options.labels_file.empty()) {
    MC_ASSIGN_OR_RETURN(std::vector<std::string> labels, read_labels(options.labels_file));
    if (model.format == "opaque") {
      // Nothing to match the count against, and guessing an output name would print a
      // config that only looks complete.
      return error(StatusCode::kInvalidArgument, options.labels_file +
                                                     ": cannot attach labels to an opaque model; describe its outputs "
                                                     "in the config and add the labels there");
    }
    MC_RETURN_IF_ERROR(attach_labels(config.outputs, unranked, std::move(labels), options.labels_file));
  }
  MC_ASSIGN_OR_RETURN(config.features, parse_features(options.features));
  config.metadata = model.metadata;
  config.metadata["format"] = model.format;

  Json out = config_to_json(config);
  // What we print must be what publish accepts: run it through the same validator and
  // the same fit check now rather than let the user find out at publish time.
  Result<ModelConfig> reread = config_from_json(out, "generated config");
  if (!reread.ok()) return reread.status();
  MC_RETURN_IF_ERROR(check_config_fits(*reread, model, options.model_file));
  return out;
}

int run_config_init(const ConfigInitOptions& options) {
  if (options.model_file.empty()) {
    std::cerr << "error: config init: MODEL (a file or model folder) is required\n";
    return 2;
  }
  Result<Json> config = config_init_json(options);
  if (!config.ok()) return fail(config.status());
  std::cout << pretty_json(*config);
  return 0;
}

Json inspect_to_json(const std::string& model_file, const ModelInfo& model) {
  Json out = {{"file", model_text(model_file, 4096)},
              {"format", model.format},
              {"inputs", tensors_json(model.inputs)},
              {"outputs", tensors_json(model.outputs)},
              {"metadata", model.metadata}};
  if (!model.note.empty()) out["note"] = model.note;
  if (model.output_candidates) out["output_candidates"] = true;
  if (!model.minimum_os.empty()) out["minimum_os"] = model.minimum_os;
  return out;
}

int run_inspect(const std::string& model_file, bool json) {
  if (model_file.empty()) {
    std::cerr << "error: inspect: MODEL_FILE is required\n";
    return 2;
  }
  Result<ModelInfo> model = inspect_model_file(model_file);
  if (!model.ok()) return fail(model.status());
  if (json) {
    std::cout << inspect_to_json(model_file, *model).dump() << "\n";
    return 0;
  }
  std::cout << model_file << ": " << model->format << "\n";
  if (!model->note.empty()) std::cout << "  " << model->note << "\n";
  if (model->format != "opaque") {
    print_tensors("inputs", model->inputs);
    print_tensors("outputs", model->outputs);
  }
  if (!model->metadata.empty()) {
    std::cout << "  metadata:\n";
    for (auto it = model->metadata.begin(); it != model->metadata.end(); ++it)
      std::cout << "    " << it.key() << ": " << it.value().dump() << "\n";
  }
  return 0;
}

}  // namespace modelcast
