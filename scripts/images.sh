#!/usr/bin/env bash
# Build and push the container images; the Makefile's `images` and `push` targets call this.
#
#   scripts/images.sh build [serving|pipeline ...]   build (default: both) from images/<name>/Dockerfile
#   scripts/images.sh push [serving|pipeline ...]    push to $REGISTRY (tagging the local build first)
#   scripts/images.sh refs [serving|pipeline ...]    print the image references
#
# Image references come from personseg/image_refs.py (tag = package version); nothing here repeats them.
# The engine is `docker` when a Docker engine answers `docker info`, else `buildah`.
# Environment:
#   REGISTRY      registry/namespace to tag (build) or push to; else PERSONSEG_IMAGE_REGISTRY, else the
#                 default in personseg/image_refs.py. Push credentials come from `docker login`/`buildah login`.
#   ENGINE        docker or buildah, to skip the detection.
#   BUILD_ARGS    extra build flags, e.g. "--build-arg BASE_IMAGE=python:3.11-slim@sha256:<digest>" (a base
#                 image by digest; without one the build warns).
#   TORCH_WHEELS  a folder holding torch's CPU wheel (the one images/pipeline/requirements.lock names), for the
#                 pipeline image: passed as its torch-wheels build context. Or:
#   TORCH_INDEX_URL  PyTorch's CPU wheel index (or a mirror) for the pipeline image's torch. One of the two
#                 is required for that image; either way pip checks the wheel against the lock's sha256.
#   BUILDAH_OPTS  global buildah flags, e.g. "--storage-driver vfs --root /some/dir".
#   BUILDAH_LAYERS  cache buildah layers (default true; false saves disk on the vfs driver).
#   PYTHON        interpreter that reads personseg/image_refs.py (default python3; needs nothing installed).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-python3}
ALL_COMPONENTS=(serving pipeline)

die() { echo "images.sh: $*" >&2; exit 2; }

# personseg/image_refs.py is import-light (it reads only the version), so the source tree suffices.
ref() {
    PYTHONPATH="$ROOT" "$PYTHON" -c \
        'import sys; from personseg.image_refs import image_ref; print(image_ref(sys.argv[1], sys.argv[2] or None))' \
        "$1" "${2:-}"
}

version() { PYTHONPATH="$ROOT" "$PYTHON" -c 'import personseg; print(personseg.__version__)'; }

revision() {
    local rev
    rev=$(git rev-parse HEAD 2>/dev/null) || { echo unknown; return; }
    [ -z "$(git status --porcelain -- personseg images setup.cfg pyproject.toml 2>/dev/null)" ] || rev="$rev-dirty"
    echo "$rev"
}

engine() {
    if [ -n "${ENGINE:-}" ]; then
        case "$ENGINE" in docker|buildah) echo "$ENGINE" ;; *) die "ENGINE=$ENGINE: expected docker or buildah" ;; esac
    elif command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1; then
        echo docker
    elif command -v buildah >/dev/null 2>&1; then
        echo buildah
    else
        die "no image builder: no Docker engine answers 'docker info' and buildah is not installed (apt-get install buildah)"
    fi
}

check_component() {
    [ -f "images/$1/Dockerfile" ] || die "unknown image '$1': no images/$1/Dockerfile (known: ${ALL_COMPONENTS[*]})"
}

build() {
    local tool=$1 component=$2 target extra=() args=()
    check_component "$component"
    target=$(ref "$component" "${REGISTRY:-}")
    read -ra extra <<< "${BUILD_ARGS:-}"
    args=(-f "images/$component/Dockerfile" -t "$target"
          --build-arg "VERSION=$(version)" --build-arg "REVISION=$(revision)")
    if [ "$component" = pipeline ]; then
        if [ -n "${TORCH_WHEELS:-}" ]; then
            compgen -G "$TORCH_WHEELS/torch-*.whl" >/dev/null \
                || die "TORCH_WHEELS=$TORCH_WHEELS: no torch-*.whl in that folder"
            args+=(--build-context "torch-wheels=$(cd "$TORCH_WHEELS" && pwd)")
        elif [ -n "${TORCH_INDEX_URL:-}" ]; then
            args+=(--build-arg "TORCH_INDEX_URL=$TORCH_INDEX_URL")
        else
            die "TORCH_INDEX_URL is not set: the pipeline image installs torch's CPU build from PyTorch's CPU wheel index (or a mirror); export TORCH_INDEX_URL=<that index>, or TORCH_WHEELS=<folder with the wheel>"
        fi
    fi
    local origin
    if origin=$(git remote get-url origin 2>/dev/null) && [[ "$origin" == https://* ]]; then
        args+=(--build-arg "SOURCE=${origin%.git}")
    fi
    if [[ " ${BUILD_ARGS:-} " != *" BASE_IMAGE="*"@sha256:"* ]]; then
        echo "images.sh: warning: BASE_IMAGE is not pinned by digest; for a release pass" \
             "BUILD_ARGS=\"--build-arg BASE_IMAGE=<image>@sha256:<digest>\" so the tag cannot be moved under you" >&2
    fi
    echo "images.sh: building $target with $tool" >&2
    local opts=() size
    read -ra opts <<< "${BUILDAH_OPTS:-}"
    if [ "$tool" = docker ]; then
        docker build "${args[@]}" "${extra[@]}" .
        size=$(docker image inspect --format '{{.Size}}' "$target" | awk '{printf "%.0f MB", $1 / 1e6}')
    else
        buildah "${opts[@]}" bud --layers="${BUILDAH_LAYERS:-true}" \
            --ignorefile "images/$component/Dockerfile.dockerignore" "${args[@]}" "${extra[@]}" .
        size=$(buildah "${opts[@]}" images --format '{{.Size}}' "$target" | head -n 1)
    fi
    echo "images.sh: built $target ($size uncompressed)" >&2
}

exists() {
    local tool=$1 image=$2 opts=()
    read -ra opts <<< "${BUILDAH_OPTS:-}"
    if [ "$tool" = docker ]; then
        docker image inspect "$image" >/dev/null 2>&1
    else
        buildah "${opts[@]}" inspect --type image "$image" >/dev/null 2>&1
    fi
}

push() {
    local tool=$1 component=$2 registry=${REGISTRY:-${PERSONSEG_IMAGE_REGISTRY:-}} source target opts=()
    [ -n "$registry" ] || die "push needs a registry: make push REGISTRY=host/namespace"
    check_component "$component"
    read -ra opts <<< "${BUILDAH_OPTS:-}"
    target=$(ref "$component" "$registry")
    if ! exists "$tool" "$target"; then
        source=$(ref "$component")
        exists "$tool" "$source" || die "no local image $target or $source: run 'make images' first"
        if [ "$tool" = docker ]; then docker tag "$source" "$target"; else buildah "${opts[@]}" tag "$source" "$target"; fi
    fi
    echo "images.sh: pushing $target with $tool" >&2
    if [ "$tool" = docker ]; then docker push "$target"; else buildah "${opts[@]}" push "$target"; fi
}

main() {
    [ $# -ge 1 ] || die "usage: images.sh build|push|refs [serving|pipeline ...]"
    local action=$1 tool
    shift
    local components=("$@")
    [ ${#components[@]} -gt 0 ] || components=("${ALL_COMPONENTS[@]}")
    case "$action" in
        refs) for c in "${components[@]}"; do check_component "$c"; ref "$c" "${REGISTRY:-}"; done ;;
        build) tool=$(engine); for c in "${components[@]}"; do build "$tool" "$c"; done ;;
        push) tool=$(engine); for c in "${components[@]}"; do push "$tool" "$c"; done ;;
        *) die "unknown action '$action': expected build, push or refs" ;;
    esac
}

main "$@"
