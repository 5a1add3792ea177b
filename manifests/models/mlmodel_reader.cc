// Core ML .mlmodel reader: one serialized CoreML.Specification.Model, read with the wire
// reader so a device can check a config against it too. What an app needs is all in the
// model's description and its classifier:
// - inputs and outputs from ModelDescription: a multi-array's shape and element type
//   (flexible dimensions are -1); an image's width, height and colour space (shape
//   [height, width, channels], uint8 pixels, float16 for GRAYSCALE_FLOAT16);
// - class labels from the classifier's stringClassLabels/int64ClassLabels (the last model
//   of a pipeline), or for an ML Program from its `classify` operation's `classes`. They
//   label the probabilities output, whose shape is then [number of classes];
// - metadata (author, licence, version, description, user-defined keys), and
//   specificationVersion, which gives the oldest iOS that runs the model.
// Weights (inline in a neural network, in weight.bin for an ML Program) are never read.

#include "modelcast/model_readers.h"
#include "proto_model_file.h"
#include "proto_wire.h"

namespace modelcast {

namespace {

constexpr size_t kMaxNameBytes = 1024;
constexpr size_t kMaxDescriptionBytes = 16384;
constexpr size_t kMaxFeatureDescriptions = 4096;
constexpr size_t kMaxArrayRank = 64;
constexpr size_t kMaxEnumeratedShapes = 1024;
constexpr size_t kMaxUserDefined = 256;
constexpr size_t kMaxOperations = 1 << 20;
// Pipelines nest models; real ones are two or three deep.
constexpr int kMaxPipelineDepth = 8;

// Model.proto.
constexpr uint32_t kModelSpecificationVersion = 1;
constexpr uint32_t kModelDescription = 2;
constexpr uint32_t kModelPipelineClassifier = 200;
constexpr uint32_t kModelPipeline = 202;
constexpr uint32_t kModelFirstClassifier = 400;  // glm, svm, tree ensemble, neural network, kNN: 400..404
constexpr uint32_t kModelLastClassifier = 404;
constexpr uint32_t kModelMlProgram = 502;
constexpr uint32_t kPipelineClassifierPipeline = 1;
constexpr uint32_t kPipelineModels = 1;
constexpr uint32_t kClassifierStringLabels = 100;
constexpr uint32_t kClassifierInt64Labels = 101;
constexpr uint32_t kVectorValues = 1;  // StringVector.vector, Int64Vector.vector
// ModelDescription, FeatureDescription, Metadata.
constexpr uint32_t kDescriptionInput = 1;
constexpr uint32_t kDescriptionOutput = 10;
constexpr uint32_t kDescriptionPredictedFeature = 11;
constexpr uint32_t kDescriptionPredictedProbabilities = 12;
constexpr uint32_t kDescriptionMetadata = 100;
constexpr uint32_t kFeatureName = 1;
constexpr uint32_t kFeatureShortDescription = 2;
constexpr uint32_t kFeatureType = 3;
constexpr uint32_t kMetadataShortDescription = 1;
constexpr uint32_t kMetadataVersion = 2;
constexpr uint32_t kMetadataAuthor = 3;
constexpr uint32_t kMetadataLicense = 4;
constexpr uint32_t kMetadataUserDefined = 100;
constexpr uint32_t kMapKey = 1;
constexpr uint32_t kMapValue = 2;
// FeatureTypes.proto.
constexpr uint32_t kTypeInt64 = 1;
constexpr uint32_t kTypeDouble = 2;
constexpr uint32_t kTypeString = 3;
constexpr uint32_t kTypeImage = 4;
constexpr uint32_t kTypeMultiArray = 5;
constexpr uint32_t kTypeDictionary = 6;
constexpr uint32_t kTypeSequence = 7;
constexpr uint32_t kTypeState = 8;
constexpr uint32_t kArrayShape = 1;
constexpr uint32_t kArrayDataType = 2;
constexpr uint32_t kArrayEnumeratedShapes = 21;
constexpr uint32_t kArrayShapeRange = 31;
constexpr uint32_t kEnumeratedShapesShapes = 1;
constexpr uint32_t kShapeDims = 1;
constexpr uint32_t kShapeRangeSizes = 1;
constexpr uint32_t kSizeRangeLower = 1;
constexpr uint32_t kSizeRangeUpper = 2;
constexpr uint32_t kImageWidth = 1;
constexpr uint32_t kImageHeight = 2;
constexpr uint32_t kImageColorSpace = 3;
constexpr uint32_t kImageEnumeratedSizes = 21;
constexpr uint32_t kImageSizeRange = 31;
// MIL.proto: Program → Function → Block → Operation → Argument → Binding → Value.
constexpr uint32_t kProgramFunctions = 2;
constexpr uint32_t kFunctionBlockSpecializations = 3;
constexpr uint32_t kBlockOperations = 3;
constexpr uint32_t kOperationType = 1;
constexpr uint32_t kOperationInputs = 2;
constexpr uint32_t kArgumentArguments = 1;
constexpr uint32_t kBindingValue = 2;
constexpr uint32_t kValueImmediate = 3;
constexpr uint32_t kImmediateTensor = 1;
constexpr uint32_t kImmediateList = 3;
constexpr uint32_t kListValues = 1;
constexpr uint32_t kTensorStrings = 4;
constexpr uint32_t kTensorLongInts = 5;
constexpr uint32_t kRepeatedValues = 1;

Status corrupt(const std::string& what, const std::string& problem) {
  return error(StatusCode::kCorruption, what + ": " + problem);
}

std::string text(std::string_view s, size_t max_bytes = kMaxNameBytes) { return model_text(s, max_bytes); }

// The first length-delimited field `number` of a message ("" when absent); false on bad bytes.
bool field_bytes(std::string_view message, uint32_t number, std::string_view* out) {
  WireReader r(message);
  WireField f;
  while (r.next(&f))
    if (f.number == number && f.type == kWireBytes) *out = f.bytes;
  return r.ok();
}

std::string array_dtype(uint64_t type) {
  switch (type) {
    case 65568: return "float32";
    case 65600: return "float64";
    case 65552: return "float16";
    case 131104: return "int32";
    case 131080: return "int8";
    case 0: return "undefined";
    default: break;
  }
  return "coreml-type-" + std::to_string(type);
}

// Dimensions that differ between the enumerated shapes, or whose range is not one size,
// are flexible: -1.
bool flexible_dims(std::string_view array, TensorInfo& t) {
  WireReader r(array);
  WireField f;
  while (r.next(&f)) {
    if (f.type != kWireBytes) continue;
    if (f.number == kArrayShapeRange) {
      size_t i = 0;
      WireReader ranges(f.bytes);
      WireField s;
      while (ranges.next(&s)) {
        if (s.number != kShapeRangeSizes || s.type != kWireBytes) continue;
        uint64_t lower = 0, upper = 0;
        WireReader range(s.bytes);
        WireField b;
        while (range.next(&b)) {
          if (b.number == kSizeRangeLower && b.type == kWireVarint) lower = b.value;
          if (b.number == kSizeRangeUpper && b.type == kWireVarint) upper = b.value;
        }
        if (!range.ok()) return false;
        if (i < t.shape.size() && lower != upper) t.shape[i] = -1;
        ++i;
      }
      if (!ranges.ok()) return false;
    } else if (f.number == kArrayEnumeratedShapes) {
      size_t count = 0;
      WireReader shapes(f.bytes);
      WireField s;
      while (shapes.next(&s)) {
        if (s.number != kEnumeratedShapesShapes || s.type != kWireBytes) continue;
        if (++count > kMaxEnumeratedShapes) return false;
        std::vector<int64_t> dims;
        WireReader shape(s.bytes);
        WireField d;
        while (shape.next(&d))
          if (d.number == kShapeDims && !append_varints(d, &dims, kMaxArrayRank)) return false;
        if (!shape.ok()) return false;
        if (dims.size() != t.shape.size()) {  // shapes of several ranks: the rank is open
          t.shape.clear();
          t.ranked = false;
          return true;
        }
        for (size_t i = 0; i < dims.size(); ++i)
          if (dims[i] != t.shape[i]) t.shape[i] = -1;
      }
      if (!shapes.ok()) return false;
    }
  }
  return r.ok();
}

bool read_multi_array(std::string_view array, TensorInfo& t) {
  WireReader r(array);
  WireField f;
  while (r.next(&f)) {
    if (f.number == kArrayShape && !append_varints(f, &t.shape, kMaxArrayRank)) return false;
    if (f.number == kArrayDataType && f.type == kWireVarint) t.dtype = array_dtype(f.value);
  }
  if (!r.ok()) return false;
  for (int64_t d : t.shape)
    if (d < 0) return false;
  if (t.dtype.empty()) t.dtype = "undefined";
  // A neural network of specification 1 may leave the shape out: the rank is then open.
  if (t.shape.empty()) t.ranked = false;
  return flexible_dims(array, t);
}

bool read_image(std::string_view image, TensorInfo& t, Json& described) {
  uint64_t width = 0, height = 0, color = 0;
  bool flexible = false;
  WireReader r(image);
  WireField f;
  while (r.next(&f)) {
    if (f.number == kImageWidth && f.type == kWireVarint) width = f.value;
    if (f.number == kImageHeight && f.type == kWireVarint) height = f.value;
    if (f.number == kImageColorSpace && f.type == kWireVarint) color = f.value;
    if (f.number == kImageEnumeratedSizes || f.number == kImageSizeRange) flexible = true;
  }
  if (!r.ok() || width > static_cast<uint64_t>(kMaxSafeInteger) || height > static_cast<uint64_t>(kMaxSafeInteger))
    return false;
  const char* space = color == 10 ? "grayscale" : color == 20 ? "rgb" : color == 30 ? "bgr" : color == 40 ? "grayscale-float16" : "unknown";
  const int64_t channels = color == 10 || color == 40 ? 1 : color == 20 || color == 30 ? 3 : -1;
  t.dtype = color == 40 ? "float16" : "uint8";
  // Flexible sizes leave width and height to the app.
  t.shape = {flexible ? -1 : static_cast<int64_t>(height), flexible ? -1 : static_cast<int64_t>(width), channels};
  described = {{"width", width}, {"height", height}, {"color_space", space}};
  if (flexible) described["flexible_size"] = true;
  return true;
}

struct Feature {
  TensorInfo tensor;
  std::string description;
  bool dictionary = false;
};

Result<Feature> read_feature(std::string_view bytes, Json& images, const std::string& what) {
  Feature out;
  TensorInfo& t = out.tensor;
  std::string_view type;
  WireReader r(bytes);
  WireField f;
  while (r.next(&f)) {
    if (f.type != kWireBytes) continue;
    if (f.number == kFeatureName) t.name = text(f.bytes);
    if (f.number == kFeatureShortDescription) out.description = text(f.bytes, kMaxDescriptionBytes);
    if (f.number == kFeatureType) type = f.bytes;
  }
  if (!r.ok()) return corrupt(what, "not a valid feature description");
  const std::string where = what + ": feature \"" + t.name + "\"";
  t.dtype = "undefined";
  t.ranked = false;
  WireReader types(type);
  while (types.next(&f)) {
    switch (f.number) {
      // Scalars: one value, shape [].
      case kTypeInt64: t.dtype = "int64"; t.ranked = true; break;
      case kTypeDouble: t.dtype = "float64"; t.ranked = true; break;
      case kTypeString: t.dtype = "string"; t.ranked = true; break;
      case kTypeImage: {
        Json described;
        if (f.type != kWireBytes || !read_image(f.bytes, t, described)) return corrupt(where, "bad image type");
        t.ranked = true;
        images[t.name] = std::move(described);
        break;
      }
      case kTypeMultiArray:
        t.ranked = true;
        t.dtype.clear();
        if (f.type != kWireBytes || !read_multi_array(f.bytes, t)) return corrupt(where, "bad multi-array type");
        break;
      // A dictionary is a classifier's class → probability map: float64 values, one per class.
      case kTypeDictionary: t.dtype = "float64"; out.dictionary = true; break;
      case kTypeSequence: t.dtype = "sequence"; break;
      case kTypeState: t.dtype = "state"; break;
      default: break;
    }
  }
  if (!types.ok()) return corrupt(where, "bad feature type");
  return out;
}

// The class labels of a classifier message (fields 100/101, the same in every classifier).
bool read_class_labels(std::string_view classifier, std::vector<std::string>& labels) {
  WireReader r(classifier);
  WireField f;
  while (r.next(&f)) {
    if (f.type != kWireBytes) continue;
    if (f.number != kClassifierStringLabels && f.number != kClassifierInt64Labels) continue;
    labels.clear();
    std::vector<int64_t> ints;
    WireReader v(f.bytes);
    WireField e;
    while (v.next(&e)) {
      if (e.number != kVectorValues) continue;
      if (f.number == kClassifierInt64Labels) {
        if (!append_varints(e, &ints, kMaxLabels)) return false;
      } else if (e.type == kWireBytes) {
        if (labels.size() >= kMaxLabels) return false;
        labels.push_back(text(e.bytes));
      }
    }
    if (!v.ok()) return false;
    for (int64_t i : ints) labels.push_back(std::to_string(i));
  }
  return r.ok();
}

// The strings or int64s of an immediate value: a tensor (TensorValue.strings/.longInts),
// or a list of scalar values, each its own immediate tensor (what coremltools 9 writes).
bool read_immediate_labels(std::string_view immediate, std::vector<std::string>& labels, int depth) {
  WireReader r(immediate);
  WireField f;
  while (r.next(&f)) {
    if (f.type != kWireBytes) continue;
    if (f.number == kImmediateList && depth == 0) {
      WireReader items(f.bytes);
      WireField item;
      while (items.next(&item)) {
        if (item.number != kListValues || item.type != kWireBytes) continue;
        std::string_view inner;
        if (!field_bytes(item.bytes, kValueImmediate, &inner) || !read_immediate_labels(inner, labels, depth + 1)) return false;
      }
      if (!items.ok()) return false;
    }
    if (f.number != kImmediateTensor) continue;
    WireReader t(f.bytes);
    WireField tf;
    while (t.next(&tf)) {
      if ((tf.number != kTensorStrings && tf.number != kTensorLongInts) || tf.type != kWireBytes) continue;
      std::vector<int64_t> ints;
      WireReader values(tf.bytes);
      WireField v;
      while (values.next(&v)) {
        if (v.number != kRepeatedValues) continue;
        if (tf.number == kTensorLongInts) {
          if (!append_varints(v, &ints, kMaxLabels)) return false;
        } else if (v.type == kWireBytes) {
          if (labels.size() >= kMaxLabels) return false;
          labels.push_back(text(v.bytes));
        }
      }
      if (!values.ok()) return false;
      for (int64_t i : ints) {
        if (labels.size() >= kMaxLabels) return false;
        labels.push_back(std::to_string(i));
      }
    }
    if (!t.ok()) return false;
  }
  return r.ok();
}

// The `classes` argument of a `classify` operation: one binding to an immediate value.
bool read_classes_value(std::string_view argument, std::vector<std::string>& labels) {
  WireReader args(argument);
  WireField a;
  while (args.next(&a)) {
    if (a.number != kArgumentArguments || a.type != kWireBytes) continue;
    std::string_view value, immediate;
    if (!field_bytes(a.bytes, kBindingValue, &value) || !field_bytes(value, kValueImmediate, &immediate) ||
        !read_immediate_labels(immediate, labels, 0))
      return false;
  }
  return args.ok();
}

// The `classes` of the `classify` operation coremltools appends to an ML Program's main
// block; every function and specialization is looked at, the last classify wins.
bool read_program_labels(std::string_view program, std::vector<std::string>& labels) {
  size_t operations = 0;
  WireReader functions(program);
  WireField fn;
  while (functions.next(&fn)) {
    if (fn.number != kProgramFunctions || fn.type != kWireBytes) continue;
    std::string_view function;
    if (!field_bytes(fn.bytes, kMapValue, &function)) return false;
    WireReader blocks(function);
    WireField b;
    while (blocks.next(&b)) {
      if (b.number != kFunctionBlockSpecializations || b.type != kWireBytes) continue;
      std::string_view block;
      if (!field_bytes(b.bytes, kMapValue, &block)) return false;
      WireReader ops(block);
      WireField op;
      while (ops.next(&op)) {
        if (op.number != kBlockOperations || op.type != kWireBytes) continue;
        if (++operations > kMaxOperations) return false;
        std::string_view type;
        if (!field_bytes(op.bytes, kOperationType, &type)) return false;
        if (type != "classify") continue;
        WireReader inputs(op.bytes);
        WireField in;
        while (inputs.next(&in)) {
          if (in.number != kOperationInputs || in.type != kWireBytes) continue;
          std::string_view key, argument;
          if (!field_bytes(in.bytes, kMapKey, &key) || !field_bytes(in.bytes, kMapValue, &argument)) return false;
          if (key != "classes") continue;
          labels.clear();
          if (!read_classes_value(argument, labels)) return false;
        }
        if (!inputs.ok()) return false;
      }
      if (!ops.ok()) return false;
    }
    if (!blocks.ok()) return false;
  }
  return functions.ok();
}

// Labels of a model: its classifier's, the last model's of a pipeline, or the ML Program's.
bool read_model_labels(std::string_view model, std::vector<std::string>& labels, int depth) {
  if (depth > kMaxPipelineDepth) return false;
  WireReader r(model);
  WireField f;
  while (r.next(&f)) {
    if (f.type != kWireBytes) continue;
    if (f.number >= kModelFirstClassifier && f.number <= kModelLastClassifier) {
      if (!read_class_labels(f.bytes, labels)) return false;
    } else if (f.number == kModelMlProgram) {
      if (!read_program_labels(f.bytes, labels)) return false;
    } else if (f.number == kModelPipelineClassifier || f.number == kModelPipeline) {
      std::string_view pipeline = f.bytes;
      if (f.number == kModelPipelineClassifier && !field_bytes(f.bytes, kPipelineClassifierPipeline, &pipeline)) return false;
      std::string_view last;
      WireReader models(pipeline);
      WireField m;
      while (models.next(&m))
        if (m.number == kPipelineModels && m.type == kWireBytes) last = m.bytes;
      if (!models.ok()) return false;
      if (!last.empty() && !read_model_labels(last, labels, depth + 1)) return false;
    }
  }
  return r.ok();
}

Status read_metadata(std::string_view bytes, Json& meta, const std::string& what) {
  Json user = Json::object();
  WireReader r(bytes);
  WireField f;
  while (r.next(&f)) {
    if (f.type != kWireBytes) continue;
    if (f.number == kMetadataShortDescription) meta["description"] = text(f.bytes, kMaxDescriptionBytes);
    if (f.number == kMetadataVersion) meta["version"] = text(f.bytes);
    if (f.number == kMetadataAuthor) meta["author"] = text(f.bytes, kMaxDescriptionBytes);
    if (f.number == kMetadataLicense) meta["license"] = text(f.bytes, kMaxDescriptionBytes);
    if (f.number == kMetadataUserDefined && user.size() < kMaxUserDefined) {
      std::string_view key, value;
      if (!field_bytes(f.bytes, kMapKey, &key) || !field_bytes(f.bytes, kMapValue, &value))
        return corrupt(what, "bad user-defined metadata");
      user[text(key)] = text(value, kMaxDescriptionBytes);
    }
  }
  if (!r.ok()) return corrupt(what, "bad metadata");
  if (!user.empty()) meta["user_defined"] = std::move(user);
  return OkStatus();
}

// Core ML specification versions and the iOS release that introduced each
// (coremltools' _SPECIFICATION_VERSION_IOS_* constants).
const char* minimum_ios(uint64_t specification_version) {
  static const char* const kIos[] = {"11.0", "11.2", "12.0", "13.0", "14.0", "15.0", "16.0", "17.0", "18.0", "26.0"};
  if (specification_version < 1 || specification_version > std::size(kIos)) return nullptr;
  return kIos[specification_version - 1];
}

}  // namespace

Result<ModelInfo> read_mlmodel_buffer(std::string_view bytes, const std::string& what) {
  if (bytes.size() > kMaxProtobufModelBytes)
    return corrupt(what, "larger than the " + std::to_string(kMaxProtobufModelBytes) + "-byte limit of a Core ML model");
  uint64_t specification = 0;
  std::string_view description;
  bool has_description = false;
  WireReader model(bytes);
  WireField f;
  while (model.next(&f)) {
    if (f.number == kModelSpecificationVersion && f.type == kWireVarint) specification = f.value;
    if (f.number == kModelDescription && f.type == kWireBytes) description = f.bytes, has_description = true;
  }
  if (!model.ok()) return corrupt(what, "not a valid Core ML model protobuf (truncated or corrupted)");
  if (specification == 0 || !has_description) return corrupt(what, "not a Core ML model (no specification version or description)");

  ModelInfo info;
  info.format = "mlmodel";
  Json& meta = info.metadata;
  Json images = Json::object(), descriptions = Json::object();
  std::string predicted, probabilities;
  std::vector<Feature> outputs;
  WireReader d(description);
  while (d.next(&f)) {
    if (f.type != kWireBytes) continue;
    if (f.number == kDescriptionInput || f.number == kDescriptionOutput) {
      if (info.inputs.size() + outputs.size() >= kMaxFeatureDescriptions)
        return corrupt(what, "more than " + std::to_string(kMaxFeatureDescriptions) + " features");
      MC_ASSIGN_OR_RETURN(Feature feature, read_feature(f.bytes, images, what));
      if (!feature.description.empty()) descriptions[feature.tensor.name] = feature.description;
      if (f.number == kDescriptionInput)
        info.inputs.push_back(std::move(feature.tensor));
      else
        outputs.push_back(std::move(feature));
    }
    if (f.number == kDescriptionPredictedFeature) predicted = text(f.bytes);
    if (f.number == kDescriptionPredictedProbabilities) probabilities = text(f.bytes);
    if (f.number == kDescriptionMetadata) MC_RETURN_IF_ERROR(read_metadata(f.bytes, meta, what));
  }
  if (!d.ok()) return corrupt(what, "not a valid model description");

  std::vector<std::string> labels;
  if (!read_model_labels(bytes, labels, 0)) return corrupt(what, "bad class labels");
  for (Feature& o : outputs) {
    // The probabilities output maps each class to its probability: one entry per label.
    if (o.dictionary && o.tensor.name == probabilities && !labels.empty()) {
      o.tensor.shape = {static_cast<int64_t>(labels.size())};
      o.tensor.ranked = true;
      o.tensor.labels = labels;
    }
    info.outputs.push_back(std::move(o.tensor));
  }
  meta["specification_version"] = specification <= static_cast<uint64_t>(kMaxSafeInteger) ? Json(specification) : Json(std::to_string(specification));
  if (const char* ios = minimum_ios(specification)) info.minimum_os["ios"] = ios;
  if (!predicted.empty()) meta["predicted_feature"] = predicted;
  if (!probabilities.empty()) meta["predicted_probabilities"] = probabilities;
  if (!labels.empty()) meta["classes"] = labels.size();
  if (!images.empty()) meta["images"] = std::move(images);
  if (!descriptions.empty()) meta["feature_descriptions"] = std::move(descriptions);
  if (!info.minimum_os.empty()) meta["minimum_os"] = info.minimum_os;
  return info;
}

Result<ModelInfo> read_mlmodel_file(const std::string& path) {
  MC_ASSIGN_OR_RETURN(MappedFile file, map_protobuf_model(path, "Core ML model"));
  return read_mlmodel_buffer(mapped_bytes(file), path);
}

namespace {

// No magic number: the extension decides, and a damaged .mlmodel is an error.
Sniff sniff_mlmodel(const SniffInput& in) {
  return !in.folder && model_extension(in.name) == "mlmodel" ? Sniff::kYes : Sniff::kNo;
}

}  // namespace

extern const ModelReader kMlmodelReader = {"mlmodel", sniff_mlmodel, read_mlmodel_file, nullptr};

}  // namespace modelcast
