"""Python binding of padir's C ABI (ctypes; no compiled extension).

    from padir import Translator
    with Translator("onnx/tiny") as t:
        for tr in t.translate(["Save the file", "Close all windows"]):
            print(tr.text, tr.score, tr.iterations)

libpadir is found through $PADIR_LIB, else inside this package (the wheel bundles it), else in
the repository's target/release (or target/debug), else on the system library path. ONNX Runtime
is the `onnxruntime` wheel's library unless $ORT_DYLIB_PATH names another or
`set_onnxruntime_library` is called before the first Translator.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import importlib.util
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ModelError",
    "PadirError",
    "PadirRuntimeError",
    "Translation",
    "Translator",
    "set_onnxruntime_library",
    "version",
]

_OK, _INVALID, _MODEL, _RUNTIME, _INTERNAL = range(5)


class PadirError(Exception):
    """A padir call failed; `status` is the C ABI's padir_status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class InvalidArgumentError(PadirError, ValueError):
    pass


class ModelError(PadirError):
    pass


class PadirRuntimeError(PadirError, RuntimeError):
    pass


_ERRORS = {
    _INVALID: InvalidArgumentError,
    _MODEL: ModelError,
    _RUNTIME: PadirRuntimeError,
}


class _Options(ctypes.Structure):
    _fields_ = [
        (n, ctypes.c_int32)
        for n in (
            "intra_threads",
            "execution_provider",
            "allow_fallback",
            "spinning",
            "skip_checksums",
            "force_threads",
        )
    ]


_INT32_MAX = 2**31 - 1


def _int_option(name: str, value, low: int, high: int = _INT32_MAX) -> int:
    """A C int32 field, range-checked here: ctypes would wrap 2**32 + 1 silently to 1."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise InvalidArgumentError(_INVALID, f"{name} must be in {low}..{high}, got {value}")
    return value


class _DecodeOptions(ctypes.Structure):
    _fields_ = [
        (n, ctypes.c_int32)
        for n in (
            "mode",
            "iterations",
            "length_beam",
            "max_length",
            "batch_size",
            "top_lengths",
            "init",
            "acceptance",
            "remask_stutter",
            "no_protect",
            "no_sentences",
            "prune_after",
        )
    ]


_LIB_NAME = {"darwin": "libpadir.dylib", "win32": "padir.dll"}.get(sys.platform, "libpadir.so")


def _library_path() -> str:
    if os.environ.get("PADIR_LIB"):
        return os.environ["PADIR_LIB"]
    here = Path(__file__).resolve().parent
    candidates = [here / _LIB_NAME]  # the wheel's copy
    repo = here.parents[2]  # a source checkout: bindings/python/padir
    candidates += [repo / "target" / profile / _LIB_NAME for profile in ("release", "debug")]
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    found = ctypes.util.find_library("padir")
    if found:
        return found
    raise OSError("libpadir not found: build it with `cargo build --release` or set PADIR_LIB")


def _onnxruntime_wheel_library() -> str | None:
    """The shared library inside the installed `onnxruntime` wheel, found without importing it."""
    try:
        spec = importlib.util.find_spec("onnxruntime")
    except (ImportError, ValueError):
        return None
    for folder in (spec and spec.submodule_search_locations) or []:
        found = sorted(
            glob.glob(os.path.join(folder, "capi", "libonnxruntime.so*"))
            + glob.glob(os.path.join(folder, "capi", "libonnxruntime*.dylib"))
            + glob.glob(os.path.join(folder, "capi", "onnxruntime.dll"))
        )
        if found:
            return found[0]
    return None


def _load() -> ctypes.CDLL:
    # No telemetry from an offline translator: ONNX Runtime (loaded later by libpadir) reads this
    # when it starts; without it, it writes a device id and queues usage events for upload
    # under ~/.cache/Microsoft. An explicit setting is kept.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    lib = ctypes.CDLL(_library_path())
    vp, cp = ctypes.c_void_p, ctypes.c_char_p
    sigs = {
        "padir_default_options": ([], _Options),
        "padir_default_decode_options": ([], _DecodeOptions),
        "padir_translator_new": (
            [cp, ctypes.POINTER(_Options), ctypes.POINTER(vp)],
            ctypes.c_int,
        ),
        "padir_translate": (
            [
                vp,
                ctypes.POINTER(cp),
                ctypes.c_size_t,
                ctypes.POINTER(_DecodeOptions),
                ctypes.POINTER(vp),
            ],
            ctypes.c_int,
        ),
        "padir_result_len": ([vp], ctypes.c_size_t),
        "padir_result_text": ([vp, ctypes.c_size_t], cp),
        "padir_result_score": ([vp, ctypes.c_size_t], ctypes.c_float),
        "padir_result_iterations": ([vp, ctypes.c_size_t], ctypes.c_int32),
        "padir_result_length": ([vp, ctypes.c_size_t], ctypes.c_int32),
        "padir_result_flags": ([vp, ctypes.c_size_t], ctypes.c_int32),
        "padir_result_free": ([vp], None),
        "padir_translator_free": ([vp], None),
        "padir_last_error": ([], cp),
        "padir_version": ([], cp),
        "padir_set_onnxruntime_library": ([cp], ctypes.c_int),
    }
    for name, (args, res) in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, res
    return lib


_lib = _load()


def set_onnxruntime_library(path: str | os.PathLike) -> None:
    """Use the ONNX Runtime library at `path` (libonnxruntime 1.31+). Call it before the first
    Translator: ONNX Runtime is loaded once per process, and another path is refused after that.
    By default padir uses the `onnxruntime` wheel's library, or $ORT_DYLIB_PATH when it is set."""
    _check(_lib.padir_set_onnxruntime_library(_utf8(os.fspath(path), "path")))


def _check(status: int) -> None:
    if status != _OK:
        message = (_lib.padir_last_error() or b"").decode("utf-8", "replace")
        raise _ERRORS.get(status, PadirError)(status, message)


def version() -> str:
    return _lib.padir_version().decode()


def _utf8(text: str, what: str) -> bytes:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be str, not {type(text).__name__}")
    if "\0" in text:
        raise InvalidArgumentError(_INVALID, f"{what} contains a NUL character")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidArgumentError(_INVALID, f"{what} is not encodable as UTF-8: {e}") from None


@dataclass(frozen=True)
class Translation:
    text: str
    score: float
    iterations: int
    length: int
    # The PaDIR output lost a protected span (%s, <b>, ...): decoded again with the AR model.
    fallback: bool = False
    # No decoding kept every protected span: they were put back by repair.
    repaired: bool = False
    # A sentence longer than the model reads was cut into parts before translation.
    split: bool = False
    # An output ran into the length limit: its end may be missing.
    truncated: bool = False


_PROVIDERS = {"cpu": 0, "cuda": 1, "coreml": 2}
_MODES = {"nar": 0, "ar": 1, "verify": 2}


def _flags(bits: int) -> dict:
    """`padir_result_flags` bits (PADIR_FLAG_* in padir.h) as Translation fields."""
    return {
        "fallback": bool(bits & 1),
        "repaired": bool(bits & 2),
        "split": bool(bits & 4),
        "truncated": bool(bits & 8),
    }


class Translator:
    """A loaded model. Thread-safe: `translate` may be called from several threads at once."""

    def __init__(
        self,
        model_dir: str | os.PathLike,
        *,
        threads: int = 0,
        force_threads: bool = False,
        provider: str = "cpu",
        allow_fallback: bool = False,
        spinning: bool = False,
    ):
        """`threads`: ONNX Runtime threads per graph run, 0 = one per core; more than the
        machine's cores is refused unless `force_threads` (never more than 256)."""
        if provider not in _PROVIDERS:
            raise InvalidArgumentError(
                _INVALID, f"unknown provider {provider!r} ({', '.join(_PROVIDERS)})"
            )
        opts = _lib.padir_default_options()
        opts.intra_threads = _int_option("threads", threads, 0)
        opts.force_threads = int(force_threads)
        opts.execution_provider = _PROVIDERS[provider]
        opts.allow_fallback = int(allow_fallback)
        opts.spinning = int(spinning)
        handle = ctypes.c_void_p()
        _check(
            _lib.padir_translator_new(
                _utf8(os.fspath(model_dir), "model_dir"),
                ctypes.byref(opts),
                ctypes.byref(handle),
            )
        )
        self._handle = handle
        self._lock = threading.Lock()  # guards closing against calls in flight
        self._calls = 0
        self._idle = threading.Condition(self._lock)

    def translate(
        self,
        texts: list[str],
        *,
        mode: str = "nar",
        iterations: int | None = None,
        length_beam: int | None = None,
        max_length: int | None = None,
        batch_size: int | None = None,
        protect: bool = True,
        sentences: bool = True,
        prune_after: int | None = None,
    ) -> list[Translation]:
        """`mode`: "nar" (PaDIR), "ar" (greedy baseline) or "verify" (exactly "ar"'s output,
        PaDIR drafting for it; `iterations` and `length_beam` then set the draft). `protect`:
        keep placeholders and markup (`%s`, `{name}`, `<b>`, URLs, ...) away from the model
        and put them back, where the model has placeholder tokens. `sentences`:
        translate sentence by sentence, joined with the original spacing (a sentence too long
        for the model is cut further); False: each text whole (too long is an error).
        `prune_after`: after this many passes refine only each sentence's best length (0 =
        never; None = the model's default)."""
        if isinstance(texts, str):
            raise TypeError("translate takes a list of str, not a str")
        if mode not in _MODES:
            raise InvalidArgumentError(_INVALID, f"unknown mode {mode!r} (nar, ar, verify)")
        encoded = [_utf8(t, f"text {i}") for i, t in enumerate(texts)]
        d = _lib.padir_default_decode_options()
        d.mode = _MODES[mode]
        d.no_protect = int(not protect)
        d.no_sentences = int(not sentences)
        if prune_after is not None:  # the C ABI: 0 = the model's default, -1 = never
            d.prune_after = _int_option("prune_after", prune_after, 0) or -1
        for field, value in (
            ("iterations", iterations),
            ("length_beam", length_beam),
            ("max_length", max_length),
            ("batch_size", batch_size),
        ):
            if value is not None:
                setattr(d, field, _int_option(field, value, 1))
        arr = (ctypes.c_char_p * len(encoded))(*encoded)
        result = ctypes.c_void_p()
        with self._lock:
            if not self._handle:
                raise InvalidArgumentError(_INVALID, "the translator is closed")
            self._calls += 1
        try:
            _check(
                _lib.padir_translate(
                    self._handle,
                    arr,
                    len(encoded),
                    ctypes.byref(d),
                    ctypes.byref(result),
                )
            )
        finally:
            with self._lock:
                self._calls -= 1
                self._idle.notify_all()
        try:
            return [
                Translation(
                    text=_lib.padir_result_text(result, i).decode("utf-8"),
                    score=_lib.padir_result_score(result, i),
                    iterations=_lib.padir_result_iterations(result, i),
                    length=_lib.padir_result_length(result, i),
                    **_flags(_lib.padir_result_flags(result, i)),
                )
                for i in range(_lib.padir_result_len(result))
            ]
        finally:
            _lib.padir_result_free(result)

    def close(self) -> None:
        """Release the model (waits for calls in flight). Further calls raise."""
        with self._lock:
            while self._calls:
                self._idle.wait()
            if self._handle:
                _lib.padir_translator_free(self._handle)
                self._handle = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_handle", None):
            _lib.padir_translator_free(self._handle)


# Without an explicit choice, the onnxruntime wheel (a dependency of padir's wheel) supplies
# ONNX Runtime.
if not os.environ.get("ORT_DYLIB_PATH") and (_wheel_ort := _onnxruntime_wheel_library()):
    set_onnxruntime_library(_wheel_ort)
