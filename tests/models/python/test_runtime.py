"""The device runs what it installed, through the config's own names and shapes.

Each format of the test model goes the whole way: `modelcast config init`, `modelcast
publish` into a git tree, a real nginx on 127.0.0.1 serving the tree (scripts/lib/nginx.sh),
`modelcast-fetch update` into a device cache, `modelcast-fetch open --json`. Then the
format's real runtime loads the installed files and runs one inference, finding the input
and output by the names in the config the device received, and feeding the input the
config's shape: LiteRT for TFLite, onnxruntime for ONNX, TensorFlow for the SavedModel and
the frozen graph. The output must have the config's shape, one score per label, and the
probabilities the trained Keras model gave for the same input.

Core ML has no runtime on Linux (Core ML runs on Apple's systems only), so the Core ML
files are published, fetched and checked byte for byte, and coremltools reads the
installed model's description (without loading it for prediction): its input must be the
one the config names.
"""

import hashlib
import json
import os
import subprocess

import numpy as np
import pytest

from conftest import model_path, run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
NGINX_SH = os.path.join(ROOT, "scripts", "lib", "nginx.sh")
# Where each format runs: Core ML on iOS, the others here.
PLATFORMS = {"mlpackage": "ios", "mlmodel": "ios"}


class Nginx:
    """scripts/lib/nginx.sh's private nginx on 127.0.0.1, serving a folder."""

    def __init__(self, root, work):
        result = subprocess.run(["bash", "-c", 'source "$1" && nginx_start "$2" "$3" && echo "$NGINX_PORT"', "bash",
                                 NGINX_SH, str(root), str(work)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"nginx did not start: {result.stderr}"
        self.prefix = os.path.join(work, "nginx")
        self.url = f"http://127.0.0.1:{result.stdout.strip()}"

    def stop(self):
        subprocess.run(["bash", "-c", 'source "$1" && NGINX_PREFIX=$2 && nginx_stop', "bash", NGINX_SH, self.prefix],
                       timeout=60)


@pytest.fixture(scope="module")
def served(tmp_path_factory, modelcast):
    """A publisher key, an empty tree and nginx serving it."""
    work = tmp_path_factory.mktemp("served")
    key = work / "publisher.key"
    run([modelcast, "keygen", "--out", key])
    tree = work / "tree"
    run([modelcast, "init", tree])
    nginx = Nginx(tree, work)
    yield {"work": work, "key": key, "tree": tree, "url": nginx.url}
    nginx.stop()


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def produced_files(source):
    """Relative path (as published: a folder keeps its name) -> SHA-256, of a file or folder."""
    if os.path.isfile(source):
        return {os.path.basename(source): sha256(source)}
    base = os.path.dirname(source)
    return {os.path.relpath(os.path.join(d, f), base): sha256(os.path.join(d, f))
            for d, _, files in os.walk(source) for f in files}


def publish(fmt, served, config_init, modelcast, models_dir, made, options=()):
    """Publishes fmt's model with the config `config init` gives; returns (model name, config)."""
    config = config_init(fmt).require()
    config_path = served["work"] / f"{fmt}.config.json"
    config_path.write_text(json.dumps(config))
    name = f"activity-{fmt}"
    run([modelcast, "publish", served["tree"], "--model", name, "--platform", PLATFORMS.get(fmt, "linux"),
         "--config", config_path, "--key", served["key"], "--quiet", *options, model_path(models_dir, made, fmt)])
    return name, config


def update(fmt, served, modelcast_fetch, device, device_options=()):
    """`modelcast-fetch update --json` of fmt's model into the cache `device`: (exit code, result)."""
    result = run([modelcast_fetch, "update", "--url", served["url"], "--cache", served["work"] / device, "--model",
                  f"activity-{fmt}", "--platform", PLATFORMS.get(fmt, "linux"), "--pubkey", f"{served['key']}.pub",
                  "--json", *device_options], check=False)
    return result.returncode, json.loads(result.stdout)


def fetch_and_open(fmt, served, config, modelcast_fetch, models_dir, made, device_options=()):
    """A device installs fmt's published model; returns its `open --json`."""
    code, updated = update(fmt, served, modelcast_fetch, f"device-{fmt}", device_options)
    assert (code, updated["status"]) == (0, "updated"), updated
    opened = json.loads(run([modelcast_fetch, "open", "--cache", served["work"] / f"device-{fmt}", "--model",
                             f"activity-{fmt}", "--verify", "--json"]).stdout)
    # The device holds exactly the producer's files, under the published paths.
    installed = {os.path.relpath(f["full_path"], opened["path"]): sha256(f["full_path"]) for f in opened["files"]}
    assert installed == produced_files(model_path(models_dir, made, fmt))
    assert opened["config"] == config
    return opened


def model_root(opened, made, fmt):
    """What the app hands its runtime: the installed file, or the folder `open` names as root."""
    entry = made["models"][fmt]
    installed = os.path.join(opened["path"], entry["path"])
    if entry["kind"] == "folder":
        # The app passes `root` straight to tf.saved_model.load or MLModel.compileModel(at:).
        assert opened.get("root") == installed, f"open --json gives root {opened.get('root')!r}"
        return opened["root"]
    return installed


def tensor_name(graph_name):
    return graph_name if ":" in graph_name else f"{graph_name}:0"


def run_tflite(path, feeds, output_names):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    interpreter.allocate_tensors()
    inputs = {d["name"]: d for d in interpreter.get_input_details()}
    outputs = {d["name"]: d for d in interpreter.get_output_details()}
    for name, value in feeds.items():
        interpreter.set_tensor(inputs[name]["index"], value)
    interpreter.invoke()
    return {name: interpreter.get_tensor(outputs[name]["index"]) for name in output_names}


def run_onnx(path, feeds, output_names):
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return dict(zip(output_names, session.run(output_names, feeds)))


def run_savedmodel(path, feeds, output_names):
    import tensorflow as tf

    serve = tf.saved_model.load(path).signatures["serving_default"]
    result = serve(**{name: tf.constant(value) for name, value in feeds.items()})
    return {name: result[name].numpy() for name in output_names}


def run_graphdef(path, feeds, output_names):
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    with open(path, "rb") as f:
        graph_def.ParseFromString(f.read())
    with tf.Graph().as_default() as graph:
        tf.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        values = session.run([tensor_name(n) for n in output_names],
                             {tensor_name(name): value for name, value in feeds.items()})
    return dict(zip(output_names, values))


RUNTIMES = {"tflite": run_tflite, "onnx": run_onnx, "savedmodel": run_savedmodel, "graphdef": run_graphdef}


@pytest.mark.parametrize("fmt", list(RUNTIMES))
def test_device_runs_the_installed_model_through_its_config(fmt, served, config_init, modelcast, modelcast_fetch,
                                                            models_dir, made):
    _, config = publish(fmt, served, config_init, modelcast, models_dir, made)
    opened = fetch_and_open(fmt, served, config, modelcast_fetch, models_dir, made)
    assert len(config["inputs"]) == 1, config["inputs"]
    spec = config["inputs"][0]
    reference = made["reference"]
    feeds = {spec["name"]: np.asarray(reference["input"], dtype=np.dtype(spec["dtype"])).reshape(spec["shape"])}
    labelled = [o for o in config["outputs"] if "labels" in o]
    assert len(labelled) == 1, f"one output should carry the labels: {config['outputs']}"
    output = labelled[0]

    result = RUNTIMES[fmt](model_root(opened, made, fmt), feeds, [output["name"]])[output["name"]]

    if output["shape"]:
        assert list(result.shape) == output["shape"]
    else:
        # A frozen GraphDef without _output_shapes: the config cannot hold the shape
        # (test_cross_format says so); the runtime gives it, with the labels' count.
        assert fmt == "graphdef", f"{fmt}: the config lost the output shape"
    assert result.shape[-1] == len(output["labels"]) == len(made["labels"])
    assert result.dtype == np.dtype(output["dtype"])
    np.testing.assert_allclose(result, reference["probabilities"], atol=1e-4)
    assert output["labels"][int(np.argmax(result))] == reference["label"]


@pytest.mark.parametrize("fmt", ["mlpackage", "mlmodel"])
def test_device_installs_coreml_that_coremltools_reads(fmt, served, config_init, modelcast, modelcast_fetch,
                                                      models_dir, made):
    """No Core ML runtime on Linux: coremltools reads the installed description instead.

    The oldest iOS the model runs on (config init reads it from specificationVersion) is
    published as the version's minimum OS: an older device keeps what it has and
    downloads nothing; a newer one installs it.
    """
    import coremltools

    minimum = config_init(fmt).require()["metadata"]["minimum_os"]["ios"]
    older = f"{int(minimum.split('.')[0]) - 1}.9"
    _, config = publish(fmt, served, config_init, modelcast, models_dir, made, ["--min-os", minimum])
    code, refused = update(fmt, served, modelcast_fetch, f"old-device-{fmt}", ["--os-version", older])
    assert (code, refused["status"], refused["reason"], refused["bytes_downloaded"]) == (3, "none", "unsupported", 0)

    opened = fetch_and_open(fmt, served, config, modelcast_fetch, models_dir, made, ["--os-version", "17.4"])
    spec = coremltools.models.MLModel(model_root(opened, made, fmt), skip_model_load=True).get_spec()
    features = {f.name: f for f in spec.description.input}
    for tensor in opened["config"]["inputs"]:
        assert tensor["name"] in features, f"config input {tensor['name']} is not in the installed model"
        assert list(features[tensor["name"]].type.multiArrayType.shape) == tensor["shape"]
    outputs = {f.name for f in spec.description.output}
    assert {o["name"] for o in opened["config"]["outputs"]} == outputs
