#!/usr/bin/env bash
# mypy --strict over the three packages. The folders memory/ and devices/ are mapped
# into the dmamon namespace by setuptools package-dir; mypy cannot follow that mapping,
# so build the installed layout as a tree of symlinks and check that.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tree="$(mktemp -d)"
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/dmamon"
for f in "$root"/dmamon/*; do ln -s "$f" "$tree/dmamon/$(basename "$f")"; done
ln -s "$root/memory" "$tree/dmamon/memory"
ln -s "$root/devices" "$tree/dmamon/devices"
cd "$tree"
python3 -m mypy --config-file "$root/pyproject.toml" -p dmamon "$@"
