#!/usr/bin/env bash
# `make demo`: the whole pipeline on this machine (kfp.local), on the committed demo dataset, with the
# local S3 server and the local deploy target. Ends by printing the report and where the model answers.
set -euo pipefail
cd "$(dirname "$0")/.."
root="${1:-runs/demo}"
exec .venv/bin/personseg pipeline run --local --root "$root"
