#!/usr/bin/env bash
# Install padir's C library where C and C++ builds find it:
#   PREFIX/include/padir.h, PREFIX/lib/libpadir.{so,a}, PREFIX/lib/pkgconfig/padir.pc, and the
#   ONNX Runtime library beside libpadir (which looks for it there first when ORT_DYLIB_PATH is unset).
#   scripts/install-c.sh [PREFIX]     (default /usr/local)
# Then: cc app.c $(pkg-config --cflags --libs padir)  (PKG_CONFIG_PATH=PREFIX/lib/pkgconfig if needed).
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${1:-/usr/local}
scripts/setup.sh --runtime-only
cargo build --release --quiet --lib
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
case "$(uname)" in Darwin) EXT=dylib;; *) EXT=so;; esac
mkdir -p "$PREFIX/include" "$PREFIX/lib/pkgconfig"
install -m 644 bindings/c/padir.h "$PREFIX/include/padir.h"
install -m 755 "target/release/libpadir.$EXT" "$PREFIX/lib/libpadir.$EXT"
install -m 644 target/release/libpadir.a "$PREFIX/lib/libpadir.a"
# The copy, not the link: .ort/ points into this checkout's virtualenv.
install -m 755 "$(readlink -f ".ort/libonnxruntime.$EXT")" "$PREFIX/lib/libonnxruntime.$EXT"
PREFIX_ABS=$(cd "$PREFIX" && pwd)
# Libs.private: what a static link against libpadir.a needs besides it.
cat > "$PREFIX/lib/pkgconfig/padir.pc" <<PC
prefix=$PREFIX_ABS
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: padir
Description: On-device machine translation by parallel iterative refinement (C ABI)
Version: $VERSION
Cflags: -I\${includedir}
Libs: -L\${libdir} -lpadir
Libs.private: -lpthread -ldl -lm
PC
echo "install-c: padir $VERSION in $PREFIX_ABS (include/padir.h, lib/libpadir.$EXT, lib/libpadir.a, lib/pkgconfig/padir.pc)"
