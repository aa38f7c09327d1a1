#!/usr/bin/env bash
# Build the service image (Containerfile) and tag it lesrcnn-deploy:<version> and :latest.
#
#   scripts/build_image.sh                 # base image BASE (default python:3.11-slim-bookworm)
#   scripts/build_image.sh --offline-base  # no container registry: make a Debian bookworm base
#                                          # with mmdebstrap and `podman import` it first
#
# The wheels (lesrcnn-deploy's and every runtime dependency) are fetched on the host into
# wheelhouse/ with pip, so the image builds with --network=none. PYTHON (default python3) must be
# the same Python minor version as the base image's python3 (checked for the offline base).
# ENGINE picks podman or docker (default: podman if installed); with podman, runc is used when
# installed (crun refuses some cgroup layouts) and the build's ulimits are set to 1024 (the
# default ones are refused in some containers). Prints the image size.
set -euo pipefail
cd "$(dirname "$0")/.."

ENGINE=${ENGINE:-$(command -v podman || command -v docker || true)}
PYTHON=${PYTHON:-python3}
BASE=${BASE:-docker.io/library/python:3.11-slim-bookworm}
OFFLINE_BASE=localhost/lesrcnn-base:bookworm
[ -n "$ENGINE" ] || { echo "build_image.sh: needs podman or docker" >&2; exit 1; }
engine=("$ENGINE")
limits=()
format=()
if [ "$(basename "$ENGINE")" = podman ]; then
  if command -v runc >/dev/null; then engine+=(--runtime runc); fi
  limits=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
  format=(--format docker)  # OCI images drop HEALTHCHECK
fi
VERSION=$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')

if [ "${1:-}" = "--offline-base" ]; then
  BASE=$OFFLINE_BASE
  if ! "${engine[@]}" image inspect "$BASE" >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm "$tmp/base.tar"
    "${engine[@]}" import --change 'CMD ["/bin/bash"]' "$tmp/base.tar" "$BASE"
  fi
  base_py=$("${engine[@]}" run --rm --network=none "${limits[@]}" "$BASE" python3 -c 'import sys; print(sys.version_info[:2])')
  host_py=$("$PYTHON" -c 'import sys; print(sys.version_info[:2])')
  [ "$base_py" = "$host_py" ] || { echo "build_image.sh: base has Python $base_py, $PYTHON is $host_py" >&2; exit 1; }
fi

rm -rf wheelhouse
"$PYTHON" -m pip wheel --quiet --wheel-dir wheelhouse '.[serve,openvino]'
"${engine[@]}" build --network=none "${format[@]}" "${limits[@]}" --build-arg "BASE=$BASE" \
  -t "lesrcnn-deploy:$VERSION" -t lesrcnn-deploy:latest -f Containerfile .
size=$("${engine[@]}" image inspect lesrcnn-deploy:latest --format '{{.Size}}')
echo "built lesrcnn-deploy:$VERSION and :latest from $BASE: $((size / 1000000)) MB"
