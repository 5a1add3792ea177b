"""Shared by the formats tests: the test models, the modelcast CLIs, `config init` on each.

The models come from scripts/make-test-models (the formats' own producers, pinned); its
models.json says what each format's own tool reports for its model. The CLIs are the real
ones CTest built (tests/models/CMakeLists.txt passes their paths).
"""

import json
import os
import subprocess

import pytest

# The six formats of one trained model, with what `config init` is given for each: labels
# from labels.txt where the format has nowhere to keep them; SavedModel keeps them in
# assets/ and both Core ML files in the classifier, so those are read from the model.
FORMATS = {
    "tflite": {"labels_in_model": False},
    "onnx": {"labels_in_model": False},
    "savedmodel": {"labels_in_model": True},
    "graphdef": {"labels_in_model": False},
    "mlpackage": {"labels_in_model": True},
    "mlmodel": {"labels_in_model": True},
}


def required_env(name, how):
    value = os.environ.get(name)
    if not value:
        raise pytest.UsageError(f"{name} is not set: {how}")
    return value


def pytest_configure(config):
    models = required_env(
        "MODELCAST_TEST_MODELS",
        "run scripts/make-test-models DIR and export MODELCAST_TEST_MODELS=DIR (scripts/test does both)")
    if not os.path.isfile(os.path.join(models, "models.json")):
        raise pytest.UsageError(f"MODELCAST_TEST_MODELS={models} has no models.json: make it with scripts/make-test-models")
    for name in ("MODELCAST_CLI", "MODELCAST_FETCH_CLI"):
        path = required_env(name, "the path of the built binary (CTest sets it: ctest -L formats)")
        if not os.access(path, os.X_OK):
            raise pytest.UsageError(f"{name}={path} is not an executable")


@pytest.fixture(scope="session")
def models_dir():
    return os.environ["MODELCAST_TEST_MODELS"]


@pytest.fixture(scope="session")
def made(models_dir):
    """models.json: what make_test_models.py made and what the formats' tools say of it."""
    with open(os.path.join(models_dir, "models.json")) as f:
        return json.load(f)


@pytest.fixture(scope="session")
def modelcast():
    return os.environ["MODELCAST_CLI"]


@pytest.fixture(scope="session")
def modelcast_fetch():
    return os.environ["MODELCAST_FETCH_CLI"]


def run(args, check=True):
    """Runs a CLI; on failure the assertion shows its command and both outputs."""
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, f"{' '.join(map(str, args))} exited {result.returncode}:\n{result.stderr}{result.stdout}"
    return result


class ConfigInit:
    """`modelcast config init` of one format's model: the printed config and the warnings."""

    def __init__(self, result):
        self.returncode = result.returncode
        self.stderr = result.stderr
        self.config = json.loads(result.stdout) if result.returncode == 0 else None

    def require(self):
        assert self.config is not None, f"config init failed (exit {self.returncode}): {self.stderr.strip()}"
        return self.config


@pytest.fixture(scope="session")
def config_init(modelcast, models_dir, made):
    """config_init(fmt, labels=None) -> ConfigInit; labels None means as FORMATS says."""
    cache = {}

    def get(fmt, labels=None):
        if labels is None:
            labels = not FORMATS[fmt]["labels_in_model"]
        key = (fmt, labels)
        if key not in cache:
            args = [modelcast, "config", "init", model_path(models_dir, made, fmt)]
            if labels:
                args += ["--labels", os.path.join(models_dir, made["labels_file"])]
            cache[key] = ConfigInit(run(args, check=False))
        return cache[key]

    return get


def model_path(models_dir, made, fmt):
    return os.path.join(models_dir, made["models"][fmt]["path"])
