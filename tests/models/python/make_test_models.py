"""Makes the formats tests' models with the formats' own producers.

One small Keras classifier (8 features in, 4 named activities out, a few epochs on
synthetic data, fixed seeds) is trained once and saved the ways a TensorFlow pipeline
ships it:

  activity_savedmodel/     SavedModel (tf.saved_model.save; labels.txt in assets/)
  activity_frozen.pb       frozen GraphDef (convert_variables_to_constants_v2), no _output_shapes
  activity_frozen_shapes.pb  the same graph written with _output_shapes (add_shapes=True)
  activity.tflite          TFLite (TFLiteConverter, from the SavedModel's signature)
  activity.onnx            ONNX (tf2onnx, from the SavedModel's serving function)
  activity.mlpackage/      Core ML ML Program classifier (coremltools)
  activity.mlmodel         Core ML neural-network classifier with string labels (coremltools)
  labels.txt               the class names, one a line
  models.json              what was made: per model its path and the inputs, outputs and
                           labels the format's own tool reports for it; a reference input
                           and the Keras model's probabilities for it; tool versions; the
                           seconds each step took

Run inside the venv of scripts/lib/pyenv.sh, through scripts/make-test-models (which
caches the result). Usage: make_test_models.py OUTDIR (OUTDIR must be empty or absent).
"""

import json
import os
import sys
import time

# Quiet the producers before they are imported: TensorFlow's C++ log, tqdm's bars.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

SEED = 20261207
LABELS = ["still", "walking", "running", "cycling"]
FEATURES = 8
INPUT_NAME = "features"
OUTPUT_NAME = "probabilities"
AUTHOR = "modelcast tests"
LICENSE = "Apache-2.0"

timings = {}


def step(name):
    """Times the decorated step and prints its duration."""

    def wrap(fn):
        def run(*args, **kwargs):
            start = time.monotonic()
            result = fn(*args, **kwargs)
            timings[name] = round(time.monotonic() - start, 2)
            print(f"make-test-models: {name}: {timings[name]} s", file=sys.stderr, flush=True)
            return result

        return run

    return wrap


def tensor(name, dtype, shape):
    return {"name": name, "dtype": dtype, "shape": [int(d) for d in shape]}


@step("train")
def train():
    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    rng = np.random.default_rng(SEED)
    # Each activity is a cloud of feature vectors around its own centre.
    centres = rng.normal(scale=2.0, size=(len(LABELS), FEATURES)).astype("float32")
    y = rng.integers(0, len(LABELS), size=2048)
    x = (centres[y] + rng.normal(size=(y.size, FEATURES))).astype("float32")
    hidden = keras.layers.Dense(16, activation="relu", name="hidden")
    scores = keras.layers.Dense(len(LABELS), activation="softmax", name=OUTPUT_NAME)
    training_input = keras.Input(shape=(FEATURES,), name=INPUT_NAME)
    trainer = keras.Model(training_input, scores(hidden(training_input)))
    trainer.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = trainer.fit(x, y, epochs=4, batch_size=32, verbose=0, shuffle=True)
    # The shipped model is the same trained layers behind a fixed batch of 1 (what a device
    # feeds), so every format carries the same static shape.
    device_input = keras.Input(shape=(FEATURES,), batch_size=1, name=INPUT_NAME)
    model = keras.Model(device_input, scores(hidden(device_input)), name="activity")
    accuracy = float(history.history["accuracy"][-1])
    reference_input = centres[2:3]
    reference_output = model(reference_input, training=False).numpy()
    return model, accuracy, reference_input, reference_output


class Servable(tf.Module):
    """The model with its labels as a SavedModel asset, served under stable names."""

    def __init__(self, model, labels_path):
        super().__init__()
        self.model = model
        self.labels = tf.saved_model.Asset(labels_path)

    @tf.function(input_signature=[tf.TensorSpec([1, FEATURES], tf.float32, name=INPUT_NAME)])
    def serve(self, features):
        return {OUTPUT_NAME: self.model(features, training=False)}


@step("savedmodel")
def save_savedmodel(model, out, labels_path):
    servable = Servable(model, labels_path)
    path = os.path.join(out, "activity_savedmodel")
    tf.saved_model.save(servable, path, signatures={"serving_default": servable.serve})
    loaded = tf.saved_model.load(path)
    signature = loaded.signatures["serving_default"]
    inputs = [tensor(k, v.dtype.name, v.shape) for k, v in signature.structured_input_signature[1].items()]
    outputs = [tensor(k, v.dtype.name, v.shape) for k, v in signature.structured_outputs.items()]
    return servable, {"path": "activity_savedmodel", "kind": "folder", "inputs": inputs, "outputs": outputs,
                      "labels_asset": "assets/labels.txt"}


def graph_outputs(graph_def):
    """Nodes no other node consumes, as TensorFlow's summarize_graph lists them."""
    consumed = {i.lstrip("^").split(":")[0] for n in graph_def.node for i in n.input}
    return [n for n in graph_def.node if n.name not in consumed and n.op not in ("Const", "NoOp", "Assign", "Placeholder")]


@step("frozen graph")
def save_frozen(servable, out):
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    frozen = convert_variables_to_constants_v2(servable.serve.get_concrete_function())
    made = {}
    for name, add_shapes in (("activity_frozen.pb", False), ("activity_frozen_shapes.pb", True)):
        graph_def = frozen.graph.as_graph_def(add_shapes=add_shapes)
        tf.io.write_graph(graph_def, out, name, as_text=False)
        placeholders = [n for n in graph_def.node if n.op == "Placeholder"]
        inputs = [tensor(n.name, tf.dtypes.as_dtype(n.attr["dtype"].type).name,
                         [d.size for d in n.attr["shape"].shape.dim]) for n in placeholders]
        outputs = []
        for n in graph_outputs(graph_def):
            t = {"name": n.name, "dtype": tf.dtypes.as_dtype(n.attr["T"].type).name}
            if "_output_shapes" in n.attr:
                t["shape"] = [d.size for d in n.attr["_output_shapes"].list.shape[0].dim]
            outputs.append(t)
        made[name] = {"path": name, "kind": "file", "inputs": inputs, "outputs": outputs,
                      "output_shapes_attr": add_shapes}
    return made


@step("tflite")
def save_tflite(out):
    from ai_edge_litert.interpreter import Interpreter

    # From the SavedModel's serving signature, loaded back. TFLiteConverter.from_saved_model
    # in TF 2.21 keeps this Keras 3 model's weights as resource variables (VAR_HANDLE,
    # READ_VARIABLE) that no interpreter initializes, so the file it writes runs to NaN or
    # garbage; from the concrete function the converter freezes them into constants.
    saved = tf.saved_model.load(os.path.join(out, "activity_savedmodel"))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([saved.signatures["serving_default"]], saved)
    path = os.path.join(out, "activity.tflite")
    with open(path, "wb") as f:
        f.write(converter.convert())
    interpreter = Interpreter(model_path=path)
    inputs = [tensor(d["name"], np.dtype(d["dtype"]).name, d["shape"]) for d in interpreter.get_input_details()]
    outputs = [tensor(d["name"], np.dtype(d["dtype"]).name, d["shape"]) for d in interpreter.get_output_details()]
    return {"path": "activity.tflite", "kind": "file", "inputs": inputs, "outputs": outputs}


@step("onnx")
def save_onnx(servable, out):
    import onnx
    import tf2onnx

    path = os.path.join(out, "activity.onnx")
    tf2onnx.convert.from_function(servable.serve, input_signature=servable.serve.input_signature, opset=17,
                                  output_path=path)
    graph = onnx.load(path).graph

    def info(v):
        t = v.type.tensor_type
        return tensor(v.name, np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)).name,
                      [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim])

    initializers = {i.name for i in graph.initializer}
    return {"path": "activity.onnx", "kind": "file", "opset": 17,
            "inputs": [info(v) for v in graph.input if v.name not in initializers],
            "outputs": [info(v) for v in graph.output]}


def coreml_description(mlmodel):
    spec = mlmodel.get_spec()
    array_types = {65568: "float32", 65600: "float64", 131104: "int32", 65552: "float16", 131080: "int8"}

    def feature(f):
        kind = f.type.WhichOneof("Type")
        if kind == "multiArrayType":
            return tensor(f.name, array_types[f.type.multiArrayType.dataType], f.type.multiArrayType.shape)
        return {"name": f.name, "type": kind}

    return spec, {"inputs": [feature(f) for f in spec.description.input],
                  "outputs": [feature(f) for f in spec.description.output],
                  "predicted_feature": spec.description.predictedFeatureName,
                  "predicted_probabilities": spec.description.predictedProbabilitiesName,
                  "specification_version": spec.specificationVersion}


def coreml_class_labels(spec):
    """A neural-network classifier's stringClassLabels, or an ML Program's classify classes."""
    if spec.WhichOneof("Type") == "neuralNetworkClassifier":
        return list(spec.neuralNetworkClassifier.stringClassLabels.vector)
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            for op in block.operations:
                if op.type == "classify":
                    # coremltools 9 binds the classes as a list of scalar strings; a single
                    # string tensor is the other form MIL.proto allows.
                    value = op.inputs["classes"].arguments[0].value.immediateValue
                    if value.WhichOneof("value") == "list":
                        return [v.immediateValue.tensor.strings.values[0] for v in value.list.values]
                    return list(value.tensor.strings.values)
    return None


@step("coreml")
def save_coreml(model, out):
    import coremltools as ct

    # coremltools 9.0 converts the trained Keras 3 model directly (its TF2 front end traces
    # it), although it warns that it was last tested with TensorFlow 2.12. Both files come
    # from the same in-memory model the other formats were saved from.
    made = {}
    for name, convert_to, target in (("activity.mlpackage", "mlprogram", ct.target.iOS15),
                                     ("activity.mlmodel", "neuralnetwork", ct.target.iOS13)):
        mlmodel = ct.convert(model, source="tensorflow", convert_to=convert_to, minimum_deployment_target=target,
                             inputs=[ct.TensorType(name=INPUT_NAME, shape=(1, FEATURES))],
                             classifier_config=ct.ClassifierConfig(LABELS))
        mlmodel.author = AUTHOR
        mlmodel.license = LICENSE
        mlmodel.version = "1"
        mlmodel.short_description = "Activity from 8 motion features (modelcast formats tests)"
        mlmodel.save(os.path.join(out, name))
        spec, description = coreml_description(ct.models.MLModel(os.path.join(out, name), skip_model_load=True))
        made[name] = {"path": name, "kind": "folder" if name.endswith(".mlpackage") else "file",
                      "model_type": spec.WhichOneof("Type"), "class_labels": coreml_class_labels(spec), **description}
    return made


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_test_models.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    if os.listdir(out):
        sys.exit(f"make_test_models.py: {out} is not empty")
    labels_path = os.path.join(out, "labels.txt")
    with open(labels_path, "w") as f:
        f.write("\n".join(LABELS) + "\n")

    model, accuracy, reference_input, reference_output = train()
    servable, savedmodel = save_savedmodel(model, out, labels_path)
    frozen = save_frozen(servable, out)
    tflite = save_tflite(out)
    onnx_model = save_onnx(servable, out)
    coreml = save_coreml(model, out)

    import coremltools
    import onnx
    import tf2onnx
    from importlib.metadata import version

    description = {
        "labels": LABELS,
        "labels_file": "labels.txt",
        "training_accuracy": round(accuracy, 4),
        "reference": {"input": reference_input.tolist(), "probabilities": reference_output.tolist(),
                      "label": LABELS[int(np.argmax(reference_output))]},
        "models": {
            "savedmodel": savedmodel,
            "graphdef": frozen["activity_frozen.pb"],
            "graphdef_shapes": frozen["activity_frozen_shapes.pb"],
            "tflite": tflite,
            "onnx": onnx_model,
            "mlpackage": coreml["activity.mlpackage"],
            "mlmodel": coreml["activity.mlmodel"],
        },
        "tools": {"tensorflow": tf.__version__, "keras": keras.__version__, "tf2onnx": tf2onnx.__version__,
                  "onnx": onnx.__version__, "coremltools": coremltools.__version__,
                  "ai-edge-litert": version("ai-edge-litert"), "python": sys.version.split()[0]},
        "seconds": timings,
    }
    with open(os.path.join(out, "models.json"), "w") as f:
        json.dump(description, f, indent=2)
        f.write("\n")
    print(f"make-test-models: training accuracy {accuracy:.3f}; wrote {sorted(os.listdir(out))}", file=sys.stderr)


if __name__ == "__main__":
    main()
