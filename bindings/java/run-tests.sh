#!/usr/bin/env bash
# Build the JNI library and the Java classes against target/release, then run the Java tests on
# onnx/tiny. Needs a JDK (javac, java) and a C compiler; run `cargo build --release` first.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
JAVA_HOME=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
OUT=${OUT:-$ROOT/target/java}
mkdir -p "$OUT/classes"
case "$(uname)" in Darwin) OS=darwin; EXT=dylib;; *) OS=linux; EXT=so;; esac
cc -shared -fPIC -O2 -Wall -Wextra -Werror -o "$OUT/libpadir_jni.$EXT" native/padir_jni.c \
  -I"$JAVA_HOME/include" -I"$JAVA_HOME/include/$OS" -I"$ROOT/bindings/c" \
  -L"$ROOT/target/release" -Wl,-rpath,"$ROOT/target/release" -lpadir
javac -Xlint:all,-try -Werror -d "$OUT/classes" src/dev/padir/*.java test/TranslatorTest.java
java -Djava.library.path="$OUT" -cp "$OUT/classes" TranslatorTest "$ROOT/onnx/tiny"
