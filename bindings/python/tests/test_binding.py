"""The Python binding over the C ABI: translations, errors, threads."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import padir
from padir import InvalidArgumentError, ModelError, Translator

TINY = Path(__file__).resolve().parents[3] / "onnx" / "tiny"


@pytest.fixture(scope="module")
def translator():
    with Translator(TINY, threads=1) as t:
        yield t


def test_matches_the_goldens(translator):
    golden = json.loads((TINY / "golden.json").read_text(encoding="utf-8"))
    # The goldens are the decoding alone: no placeholder protection, no sentence splitting.
    bs = golden["batch_size"]
    want = [o["text"] for o in golden["settings"]["nar_default"]["outputs"]]
    got = translator.translate(golden["sources"], batch_size=bs, protect=False, sentences=False)
    assert [t.text for t in got] == want
    want_pruned = [o["text"] for o in golden["settings"]["nar_prune1"]["outputs"]]
    got_pruned = translator.translate(
        golden["sources"], batch_size=bs, protect=False, sentences=False, prune_after=1
    )
    assert [t.text for t in got_pruned] == want_pruned
    want_ar = [o["text"] for o in golden["settings"]["ar"]["outputs"]]
    got_ar = translator.translate(
        golden["sources"], mode="ar", batch_size=bs, protect=False, sentences=False
    )
    assert [t.text for t in got_ar] == want_ar
    got_verify = translator.translate(
        golden["sources"], mode="verify", batch_size=bs, protect=False, sentences=False
    )
    assert [t.text for t in got_verify] == want_ar


def test_details_and_empty_text(translator):
    out = translator.translate(["Open the file", ""], iterations=2)
    assert out[0].text and 1 <= out[0].iterations <= 2 and out[0].score < 0 and out[0].length > 0
    assert out[1] == padir.Translation("", 0.0, 0, 0)
    assert translator.translate([]) == []


def test_errors_raise_with_the_message(translator):
    with pytest.raises(ModelError, match="does not exist"):
        Translator("/nonexistent/model")
    with pytest.raises(InvalidArgumentError, match="unknown mode"):
        translator.translate(["x"], mode="sideways")
    with pytest.raises(InvalidArgumentError, match="iterations must be in 1"):
        translator.translate(["x"], iterations=0)
    with pytest.raises(InvalidArgumentError, match="tokens can hold"):
        translator.translate(["word " * 5000], sentences=False)
    (long,) = translator.translate(["word " * 5000])
    assert long.split and long.text
    with pytest.raises(InvalidArgumentError, match="NUL"):
        translator.translate(["a\0b"])
    with pytest.raises(InvalidArgumentError, match="UTF-8"):
        translator.translate(["\udc80"])
    with pytest.raises(TypeError):
        translator.translate("not a list")
    with pytest.raises(TypeError):
        translator.translate([3])


def test_threads_share_one_translator(translator):
    want = translator.translate(["Close all windows"])
    results = []

    def work():
        results.append(translator.translate(["Close all windows"]))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert results == [want] * 4


def test_closed_translator_raises():
    t = Translator(TINY)
    t.close()
    t.close()
    with pytest.raises(InvalidArgumentError, match="closed"):
        t.translate(["x"])


def test_version():
    assert padir.version().count(".") == 2


def test_int_options_are_range_checked_not_wrapped(translator):
    # ctypes would store 2**32 + 1 in the int32 field as 1: one iteration, silently.
    with pytest.raises(InvalidArgumentError, match="iterations must be in 1..2147483647"):
        translator.translate(["Open the file"], iterations=2**32 + 1)
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        translator.translate(["Open the file"], batch_size=-1)
    with pytest.raises(InvalidArgumentError, match="prune_after must be in 0.."):
        translator.translate(["Open the file"], prune_after=-1)
    with pytest.raises(InvalidArgumentError, match="prune after 65 passes"):
        translator.translate(["Open the file"], prune_after=65)
    with pytest.raises(TypeError, match="iterations must be an int"):
        translator.translate(["Open the file"], iterations=2.5)
    with pytest.raises(InvalidArgumentError, match="threads must be in"):
        Translator(TINY, threads=2**32 + 1)


def test_placeholders_are_protected_unless_turned_off(translator):
    (kept,) = translator.translate(["Cannot open file %s: %s"])
    assert kept.text.count("%s") == 2, kept
    (raw,) = translator.translate(["Cannot open file %s: %s"], protect=False)
    assert not raw.fallback and not raw.repaired


def test_threads_beyond_the_cores_need_forcing():
    with pytest.raises(InvalidArgumentError, match="cores"):
        Translator(TINY, threads=20000)
    with Translator(TINY, threads=(os.cpu_count() or 1) + 1, force_threads=True) as t:
        assert t.translate(["Open the file"])[0].text


# The variables by which ONNX Runtime 1.31 recognises a CI machine and stays silent
# (`strings libonnxruntime.so`): cleared, so both runs measure the package's own setting.
ORT_CI_VARIABLES = (
    "CI",
    "APPVEYOR",
    "BITBUCKET_BUILD_NUMBER",
    "BUILDKITE",
    "CIRCLECI",
    "CODEBUILD_BUILD_ID",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "JENKINS_URL",
    "TEAMCITY_VERSION",
    "TF_BUILD",
    "TRAVIS",
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="where the Linux library writes")
def test_onnx_runtime_telemetry_is_off_unless_asked_for(tmp_path):
    """ONNX Runtime (the wheel's 1.31) writes a device id and queues usage events under
    $HOME/.cache/Microsoft unless ORT_DISABLE_TELEMETRY=1 when it starts: the package sets it.
    The control run keeps the caller's explicit ORT_DISABLE_TELEMETRY=0."""
    script = (
        f"import padir; padir.Translator({str(TINY)!r}, threads=1).translate(['Open the file'])"
    )

    def files_left(home, setting):
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME", *ORT_CI_VARIABLES)
        }
        env.update(HOME=str(home), PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        if setting is not None:
            env["ORT_DISABLE_TELEMETRY"] = setting
        home.mkdir()
        subprocess.run([sys.executable, "-c", script], env=env, check=True)
        return list(home.iterdir())

    assert files_left(tmp_path / "default", None) == []
    assert files_left(tmp_path / "opted-in", "0") != []
