#!/usr/bin/env bash
# Build tamis's release artefacts into dist/ (or $OUT) from a clean checkout:
#   abi3 (cp39-abi3) manylinux2014 wheels for x86_64 and aarch64, cross-compiled with zig (the
#   `ziglang` package from PyPI: no Docker, no cross toolchain), checked with `auditwheel show`,
#   and an sdist.
# usage: scripts/build_wheels.sh [x86_64] [aarch64] [sdist]      (no argument: all three)
# Needs: a Rust toolchain (rustup adds the target's standard library), Python >= 3.9 with pip.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-dist}
py=${PYTHON:-python3}
[ $# -gt 0 ] || set -- x86_64 aarch64 sdist
"$py" -m pip install --quiet 'maturin>=1.5,<2' 'ziglang>=0.13' 'auditwheel>=6'
# maturin finds zig through `python3 -m ziglang`: the interpreter that has it comes first.
PATH="$(dirname "$("$py" -c 'import sys; print(sys.executable)')"):$PATH"
export PATH
mkdir -p "$out"
for what in "$@"; do
  case $what in
    x86_64 | aarch64)
      target="$what-unknown-linux-gnu"
      rustup target list --installed | grep -qx "$target" || rustup target add "$target"
      # --zig links against glibc 2.17 whatever the build machine's glibc is (manylinux2014).
      "$py" -m maturin build --release --strip --target "$target" --zig \
        --compatibility manylinux2014 --out "$out"
      wheel=$(ls -t "$out"/tamis-*_"$what".whl | head -n 1)
      echo "== auditwheel show $wheel"
      "$py" -m auditwheel show "$wheel"
      ;;
    sdist)
      "$py" -m maturin sdist --out "$out"
      ;;
    *)
      echo "build_wheels.sh: unknown artefact '$what' (x86_64, aarch64, sdist)" >&2
      exit 2
      ;;
  esac
done
ls -l "$out"
