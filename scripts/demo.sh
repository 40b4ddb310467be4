#!/usr/bin/env bash
# `make demo`: the whole pipeline on this machine (kfp.local), on the committed demo dataset, with the
# local S3 server and the local deploy target. Ends with the gate's verdict and where the model answers (at
# most 60 lines in all; the whole report is in its file).
# FORCE=1 (`make demo FORCE=1`) trains again on unchanged data (the pipeline's force_retrain).
set -euo pipefail
cd "$(dirname "$0")/.."
root="${1:-runs/demo}"
args=(pipeline run --local --root "$root")
case "${FORCE:-}" in
  ""|0|false|no) ;;
  *) args+=(--param force_retrain=true) ;;
esac
exec .venv/bin/personseg "${args[@]}"
