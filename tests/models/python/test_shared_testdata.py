"""Real files other tools wrote (../shared/testdata) read the way their own tools read them.

Seven SavedModels written by TensorFlow 2.0 (tfjs's test objects): `config init` must give
the tensors of the `serving_default` signature exactly as today's TensorFlow loads them,
and those names, dtypes and shapes must drive one call of the loaded signature. Apple's
MNIST classifier as an Xcode-saved .mlpackage: `config init` must give what coremltools
reads from it: input `image` (a 28x28 grayscale image), outputs `classLabel` and
`labelProbabilities`, labels 0 to 9.
"""

import json
import math
import os

import numpy as np
import pytest

from conftest import run

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "shared", "testdata")
SAVEDMODELS = ["int64_multiply", "model_multi_output", "model_single_input_multi_output",
               "module_with_multiple_signatures", "times_three_float", "times_two_int", "uint8_multiply"]


def shared(*parts):
    path = os.path.join(SHARED, *parts)
    assert os.path.exists(path), f"{path} is missing: the tests read ../shared/testdata beside the checkout"
    return path


def config_of(modelcast, path):
    return json.loads(run([modelcast, "config", "init", path]).stdout)


def by_name(tensors):
    return {t["name"]: t for t in tensors}


def tensorflow_view(specs):
    """name -> (dtype, shape) as TensorFlow reports a signature's tensors; unknown dims -1."""
    return {name: (spec.dtype.name, [-1 if d is None else d for d in spec.shape.as_list()])
            for name, spec in specs.items()}


@pytest.mark.parametrize("fmt,name", [("savedmodel", n) for n in SAVEDMODELS])
def test_savedmodel_config_is_what_tensorflow_loads(fmt, name, modelcast):
    import tensorflow as tf

    path = shared("tf-savedmodel", name)
    config = config_of(modelcast, path)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    expected_inputs = tensorflow_view(serve.structured_input_signature[1])
    expected_outputs = tensorflow_view(serve.structured_outputs)
    assert {t["name"]: (t["dtype"], t["shape"]) for t in config["inputs"]} == expected_inputs
    assert {t["name"]: (t["dtype"], t["shape"]) for t in config["outputs"]} == expected_outputs

    # The config is enough to call the model: inputs by its names and shapes, outputs by its names.
    feeds = {t["name"]: tf.ones(t["shape"], dtype=t["dtype"]) for t in config["inputs"]}
    result = serve(**feeds)
    for t in config["outputs"]:
        assert result[t["name"]].dtype.name == t["dtype"]
        assert result[t["name"]].shape.as_list() == t["shape"]


@pytest.mark.parametrize("fmt", ["mlpackage"])
def test_apple_mnist_config_is_what_coremltools_reads(fmt, modelcast):
    import coremltools

    path = shared("coreml", "mnist.mlpackage")
    spec = coremltools.models.MLModel(path, skip_model_load=True).get_spec()
    image = spec.description.input[0].type.imageType
    assert (spec.description.input[0].name, image.width, image.height) == ("image", 28, 28)
    assert image.colorSpace == coremltools.proto.FeatureTypes_pb2.ImageFeatureType.GRAYSCALE
    labels = [str(i) for i in spec.neuralNetworkClassifier.int64ClassLabels.vector]
    assert labels == [str(i) for i in range(10)]

    config = config_of(modelcast, path)
    inputs = by_name(config["inputs"])
    assert list(inputs) == ["image"]
    # One grayscale channel of 28x28 8-bit pixels, whatever layout the config writes.
    assert inputs["image"]["dtype"] == "uint8"
    assert math.prod(inputs["image"]["shape"]) == 28 * 28 and inputs["image"]["shape"].count(28) == 2
    outputs = by_name(config["outputs"])
    assert sorted(outputs) == sorted(o.name for o in spec.description.output) == ["classLabel", "labelProbabilities"]
    assert outputs["classLabel"]["dtype"] == "int64"
    assert outputs["labelProbabilities"]["labels"] == labels
    assert np.prod(outputs["labelProbabilities"]["shape"]) == len(labels)
