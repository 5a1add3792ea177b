# The Python environment of the formats tests: the models' own producers and runtimes
# (TensorFlow, tf2onnx, coremltools, LiteRT, onnxruntime, pytest), pinned in
# tests/models/python/requirements.txt.
# Sourced, not run. After sourcing, `pyenv_ready` makes (once) or reuses
#   $MODELCAST_TESTDATA/venv-<first 12 hex of the SHA-256 of requirements.txt>
# and sets MODELCAST_VENV (the folder), MODELCAST_VENV_PYTHON (its python) and
# MODELCAST_REQUIREMENTS_HASH. The venv is made from `python3` on PATH (pyenv's 3.11 on
# the project's machines; override with MODELCAST_BASE_PYTHON). Everything is installed
# into the venv by pip from the pins: nothing into the base interpreter, and no Debian
# python3-* package is used (they belong to /usr/bin/python3 alone).

MODELCAST_ROOT=${MODELCAST_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
MODELCAST_TESTDATA=${MODELCAST_TESTDATA:-$MODELCAST_ROOT/.testdata}
MODELCAST_REQUIREMENTS=$MODELCAST_ROOT/tests/models/python/requirements.txt

pyenv_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# pyenv_hash FILE...: the first 12 hex of the SHA-256 of the files' contents, in order.
pyenv_hash() { cat "$@" | sha256sum | cut -c1-12; }

pyenv_ready() {
  local base=${MODELCAST_BASE_PYTHON:-python3}
  if ! command -v "$base" >/dev/null 2>&1; then
    echo "pyenv: $base not found on PATH (the formats tests need Python 3.11)" >&2
    return 1
  fi
  MODELCAST_REQUIREMENTS_HASH=$(pyenv_hash "$MODELCAST_REQUIREMENTS")
  MODELCAST_VENV=$MODELCAST_TESTDATA/venv-$MODELCAST_REQUIREMENTS_HASH
  MODELCAST_VENV_PYTHON=$MODELCAST_VENV/bin/python
  export MODELCAST_VENV MODELCAST_VENV_PYTHON MODELCAST_REQUIREMENTS_HASH
  local base_version stamp=$MODELCAST_VENV/.modelcast-complete
  base_version=$("$base" -c 'import sys; print(sys.version.split()[0])')
  # The stamp is written last, so a venv whose install was interrupted is made again; it
  # names the interpreter, since a venv only works with the one it was made from.
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "python $base_version" ] && "$MODELCAST_VENV_PYTHON" -c '' 2>/dev/null; then
    pyenv_log "python venv: reusing $MODELCAST_VENV (python $base_version)"
    return 0
  fi
  mkdir -p "$MODELCAST_TESTDATA"
  # Two runs at once (two checkouts sharing MODELCAST_TESTDATA) make it once.
  (
    flock 9
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "python $base_version" ]; then exit 0; fi
    pyenv_log "python venv: making $MODELCAST_VENV from $(command -v "$base") (python $base_version)"
    rm -rf "$MODELCAST_VENV"
    "$base" -m venv "$MODELCAST_VENV" || exit 1
    pyenv_log "python venv: installing $(grep -c '==' "$MODELCAST_REQUIREMENTS") pinned packages from $MODELCAST_REQUIREMENTS"
    "$MODELCAST_VENV_PYTHON" -m pip install --quiet --disable-pip-version-check --no-input --only-binary=:all: \
      -r "$MODELCAST_REQUIREMENTS" || { echo "pyenv: pip install failed; $MODELCAST_VENV left incomplete" >&2; exit 1; }
    echo "python $base_version" > "$stamp"
    pyenv_log "python venv: ready, $(du -sh "$MODELCAST_VENV" | cut -f1)"
    # Venvs of older pins are 1.8 GB each and nothing uses them any more.
    local old
    for old in "$MODELCAST_TESTDATA"/venv-*; do
      [ -d "$old" ] && [ "$old" != "$MODELCAST_VENV" ] || continue
      pyenv_log "python venv: removing $old (other pins)"
      rm -rf "$old"
    done
  ) 9>"$MODELCAST_TESTDATA/.venv.lock"
}

# pyenv_models_hash: names the test models' cache: it changes with the producer script or
# any pin, so scripts/test's .testdata/models-<hash> is made again exactly then.
pyenv_models_hash() {
  pyenv_hash "$MODELCAST_REQUIREMENTS" "$MODELCAST_ROOT/scripts/make-test-models" \
    "$MODELCAST_ROOT/tests/models/python/make_test_models.py"
}
