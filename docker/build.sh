#!/usr/bin/env bash
# Builds the wegent-codex image with docker buildx for linux/amd64 and linux/arm64.
#
#   docker/build.sh                       build both platforms (result stays in the build cache)
#   docker/build.sh --push                build and push every tag
#   docker/build.sh --load                build the host's platform only and load it into docker
#   docker/build.sh --image registry.example.com/wegent-codex --tag stable --push
#   docker/build.sh --dry-run --push      print the buildx command instead of running it
#
# Tags: <image>:<version from package.json>, <image>:sha-<git short sha> (when in a git checkout),
# <image>:latest, plus every --tag. Cross-building needs QEMU binfmt handlers on the host
# (docker run --privileged --rm tonistiigi/binfmt --install arm64,amd64) or native builders.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image="${IMAGE:-wegent-codex}"
platforms="${PLATFORMS:-linux/amd64,linux/arm64}"
mode=""
dry_run=0
extra_tags=()

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }

while (($#)); do
  case "$1" in
    --push) mode="push" ;;
    --load) mode="load" ;;
    --dry-run) dry_run=1 ;;
    --image) image="${2:?--image needs a name}"; shift ;;
    --tag) extra_tags+=("${2:?--tag needs a tag}"); shift ;;
    --platform) platforms="${2:?--platform needs a list}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "build.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

version="$(node -p "require('${root}/package.json').version")"
revision="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"

tags=("${image}:${version}" "${image}:latest")
[[ "$revision" != unknown ]] && tags+=("${image}:sha-${revision}")
for tag in "${extra_tags[@]+"${extra_tags[@]}"}"; do tags+=("${image}:${tag}"); done

if [[ "$mode" == load ]]; then
  # A multi-platform result cannot be loaded into the classic image store: the host's platform only.
  case "$(uname -m)" in
    x86_64|amd64) platforms="linux/amd64" ;;
    aarch64|arm64) platforms="linux/arm64" ;;
    *) echo "build.sh: --load: unsupported host architecture $(uname -m)" >&2; exit 2 ;;
  esac
fi

cmd=(docker buildx build
  --file "${root}/docker/Dockerfile"
  --platform "$platforms"
  --build-arg "VERSION=${version}"
  --build-arg "REVISION=${revision}")
for tag in "${tags[@]}"; do cmd+=(--tag "$tag"); done
case "$mode" in
  push) cmd+=(--push) ;;
  load) cmd+=(--load) ;;
esac
cmd+=("$root")

if ((dry_run)); then
  printf '%q ' "${cmd[@]}"
  printf '\n'
  exit 0
fi
[[ -z "$mode" ]] && echo "build.sh: building ${platforms} without --push or --load: the image stays in the build cache" >&2
exec "${cmd[@]}"
