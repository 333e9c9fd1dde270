#!/usr/bin/env bash
# Build the jar (scripts/build-jar.sh) and run the Java tests against it on onnx/tiny, naming
# ONNX Runtime as an app would (Translator.setOnnxRuntimeLibrary). Needs a JDK and a C compiler.
set -euo pipefail
cd "$(dirname "$0")/../.."
JAR=$(scripts/build-jar.sh | tail -1)
OUT=target/java/test
rm -rf "$OUT" && mkdir -p "$OUT"
javac -Xlint:all,-try -Werror -cp "$JAR" -d "$OUT" bindings/java/test/TranslatorTest.java
java -cp "$JAR:$OUT" TranslatorTest onnx/tiny "$(readlink -f .ort/libonnxruntime.so)"
