#!/usr/bin/env bash
# Build the Java binding as one jar: the dev.padir classes and, for this platform, the native
# library padir_jni (the JNI glue with libpadir linked in statically, so there is one file to
# load), which the jar extracts and loads at first use. Needs a JDK and a C compiler.
# Writes dist/padir-<version>.jar. ONNX Runtime stays outside the jar (see bindings/java/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
cargo build --release --quiet --lib
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
JAVA_HOME=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
case "$(uname)" in Darwin) OS=darwin; JNI=libpadir_jni.dylib; STATIC="-framework Security";; *) OS=linux; JNI=libpadir_jni.so; STATIC="-Wl,--exclude-libs,ALL -Wl,--gc-sections -lpthread -ldl -lm";; esac
case "$(uname -m)" in x86_64|amd64) ARCH=x86_64;; arm64|aarch64) ARCH=aarch64;; *) ARCH=$(uname -m);; esac
BUILD=target/java
rm -rf "$BUILD/jar" && mkdir -p "$BUILD/jar/dev/padir/native/$OS-$ARCH"
# --exclude-libs keeps libpadir's own symbols private: only the Java_* entry points are exported.
# shellcheck disable=SC2086
cc -shared -fPIC -O2 -Wall -Wextra -Werror -o "$BUILD/jar/dev/padir/native/$OS-$ARCH/$JNI" \
  bindings/java/native/padir_jni.c -I"$JAVA_HOME/include" -I"$JAVA_HOME/include/$OS" -Ibindings/c \
  target/release/libpadir.a $STATIC
strip --strip-debug "$BUILD/jar/dev/padir/native/$OS-$ARCH/$JNI" 2>/dev/null || true
javac --release 11 -Xlint:all -Werror -d "$BUILD/jar" bindings/java/src/dev/padir/*.java
mkdir -p dist
rm -f dist/padir-*.jar
jar --create --file "dist/padir-$VERSION.jar" -C "$BUILD/jar" .
ls "$ROOT/dist/padir-$VERSION.jar"
