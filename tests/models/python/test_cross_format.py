"""`modelcast config init` on one trained model saved six ways gives the same config.

The same Keras classifier (8 float32 features in, 4 labelled classes out, batch 1) was
saved as TFLite, ONNX, SavedModel, frozen GraphDef, Core ML ML Program and Core ML
neural network by the formats' own tools (scripts/make-test-models). Each format names
its tensors its own way, so names are compared with what that format's own tool reports
(models.json); dtypes, shapes and labels must be the same everywhere, except where a format
cannot know them, which is asserted explicitly below:
  - a frozen GraphDef written without `_output_shapes` stores no output shape: the output
    is known by name only (the same graph written with `_output_shapes` gives it);
  - a Core ML classifier reports its probabilities as a dictionary from label to
    probability, not as a [1, 4] tensor; its labels are compared.
"""

import json

import pytest

from conftest import FORMATS, model_path, run

INPUT = {"dtype": "float32", "shape": [1, 8]}
CLASS_OUTPUT = {"dtype": "float32", "shape": [1, 4]}
TENSOR_FORMATS = ["tflite", "onnx", "savedmodel", "graphdef_shapes"]
COREML_FORMATS = ["mlpackage", "mlmodel"]


def labelled_outputs(config):
    return [o for o in config["outputs"] if "labels" in o]


@pytest.mark.parametrize("fmt", list(FORMATS) + ["graphdef_shapes"])
def test_input_is_the_same_in_every_format(fmt, config_init, made):
    config = config_init(fmt, labels=False).require()
    tool_input = made["models"][fmt]["inputs"]
    assert len(tool_input) == 1, f"{fmt}: the producer's own tool reports {tool_input}"
    assert config["inputs"] == [{"name": tool_input[0]["name"], **INPUT}]


@pytest.mark.parametrize("fmt", TENSOR_FORMATS)
def test_class_output_is_the_same_tensor_with_the_same_labels(fmt, config_init, made):
    config = config_init(fmt, labels=True).require()
    tool_output = made["models"][fmt]["outputs"]
    assert [o["name"] for o in config["outputs"]] == [o["name"] for o in tool_output]
    assert config["outputs"] == [{"name": tool_output[0]["name"], **CLASS_OUTPUT, "labels": made["labels"]}]


@pytest.mark.parametrize("fmt", ["savedmodel"])
def test_savedmodel_labels_come_from_its_assets(fmt, config_init, made):
    """labels.txt in the SavedModel's assets/ is read without --labels."""
    config = config_init(fmt, labels=False).require()
    assert [o.get("labels") for o in config["outputs"]] == [made["labels"]]


@pytest.mark.parametrize("fmt", ["graphdef"])
def test_graphdef_without_output_shapes_knows_its_output_by_name_only(fmt, config_init, modelcast, models_dir, made):
    """What the format cannot know: the frozen graph stores no output shape (no `_output_shapes`)."""
    tool = made["models"][fmt]
    assert tool["output_shapes_attr"] is False and "shape" not in tool["outputs"][0]
    result = config_init(fmt, labels=False)
    config = result.require()
    assert [o["name"] for o in config["outputs"]] == [o["name"] for o in tool["outputs"]]
    output = config["outputs"][0]
    assert output["dtype"] == CLASS_OUTPUT["dtype"]
    # Unknown, said so: an empty shape in the config, a warning naming the output, and
    # `inspect --json` marking it unranked.
    assert output["shape"] == [], f"a GraphDef without _output_shapes cannot know {output['name']}'s shape"
    assert output["name"] in result.stderr and "rank" in result.stderr
    inspected = json.loads(run([modelcast, "inspect", "--json", model_path(models_dir, made, fmt)]).stdout)
    assert [o.get("ranked", True) for o in inspected["outputs"]] == [False]


@pytest.mark.parametrize("fmt", COREML_FORMATS)
def test_coreml_classifier_carries_the_same_labels(fmt, config_init, made):
    config = config_init(fmt).require()
    tool = made["models"][fmt]
    assert tool["class_labels"] == made["labels"], f"{fmt}: coremltools wrote {tool['class_labels']}"
    assert sorted(o["name"] for o in config["outputs"]) == sorted(o["name"] for o in tool["outputs"])
    labelled = labelled_outputs(config)
    assert [o["name"] for o in labelled] == [tool["predicted_probabilities"]]
    assert labelled[0]["labels"] == made["labels"]
    # Not a [1, 4] float32 tensor: a dictionary from label to probability, which Core ML
    # holds as doubles, one entry per label.
    assert (labelled[0]["dtype"], labelled[0]["shape"]) == ("float64", [len(made["labels"])])
    predicted = next(o for o in config["outputs"] if o["name"] == tool["predicted_feature"])
    assert predicted["dtype"] == "string"


@pytest.mark.parametrize("fmt", COREML_FORMATS)
def test_coreml_minimum_os_is_the_one_coremltools_targets(fmt, config_init, made):
    """specificationVersion names the oldest iOS; coremltools' own targets say which."""
    import coremltools

    version = made["models"][fmt]["specification_version"]
    targets = [t.name for t in coremltools.target if t.name.startswith("iOS") and t.value == version]
    assert len(targets) == 1, f"coremltools has no single iOS target for specificationVersion {version}"
    config = config_init(fmt).require()
    assert config["metadata"]["minimum_os"] == {"ios": targets[0][len("iOS"):] + ".0"}
