"""int8 quantization yields a smaller, loadable model that still decodes."""

from padir_export.quantize import quantize_dir
from padir_export.reference import ReferenceTranslator


def test_int8_model_is_smaller_and_decodes(tiny_dir, tmp_path):
    manifest = quantize_dir(tiny_dir, tmp_path)
    assert manifest["precision"] == "int8"
    size = lambda d: sum((d / g["file"]).stat().st_size for g in manifest["graphs"].values())
    assert size(tmp_path) < 0.6 * size(tiny_dir)
    ref = ReferenceTranslator(tmp_path)
    out = ref.translate_nar(["Open the file", "Close all windows"])
    assert all(t.ids for t in out)
    assert all(t.ids for t in ref.translate_ar(["Open the file"]))
