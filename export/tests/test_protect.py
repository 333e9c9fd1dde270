"""Placeholder protection (`protect.py`), the specification the Rust runtime shares through
`tests/data/protect_cases.json`."""

import json
from pathlib import Path

from padir_export.protect import protect, protect_pair, repair, restore

CASES = Path(__file__).resolve().parents[2] / "tests" / "data" / "protect_cases.json"


def test_the_shared_cases_hold():
    for c in json.loads(CASES.read_text(encoding="utf-8")):
        p = protect(c["text"])
        assert (p.text, p.spans, p.kinds, p.markers) == (
            c["protected"],
            c["spans"],
            c["kinds"],
            c["markers"],
        ), c["text"]
        r = restore(c["translation"], p)
        assert (r.text, r.faithful) == (c["restored"], c["faithful"]), c["text"]
        assert repair(c["translation"], p) == c["repaired"], c["text"]
        if r.faithful:
            assert c["repaired"] == r.text


def test_printf_types_keep_their_order_whatever_the_model_writes():
    p = protect("Error %s at line %d")
    # The model swapped the placeholders: printf would read a string where an int is.
    r = restore("À la ligne <ph1>, erreur <ph0>", p)
    assert r.text == "À la ligne %s, erreur %d" and r.faithful
    # Positional conversions may move: %2$d stays an int wherever it goes.
    p = protect("Error %1$s at line %2$d")
    assert restore("<ph1> : <ph0>", p).text == "%2$d : %1$s"


def test_every_span_survives_a_round_trip():
    text = "Click <b>Save</b> in %s or see https://debian.org/ and {name}\\n &amp; _Quit"
    p = protect(text)
    r = restore(p.text, p)
    assert r.faithful and r.text == text


def test_training_pairs_are_protected_only_when_the_target_carries_everything():
    src, tgt = protect_pair("Cannot open %s: %s", "Impossible d'ouvrir %s : %s")
    assert (src, tgt) == ("Cannot open <ph0>: <ph1>", "Impossible d'ouvrir <ph0> : <ph1>")
    src, tgt = protect_pair("&Open <b>%s</b>", "&Ouvrir <b>%s</b>")
    assert (src, tgt) == ("<acc>Open <ph0><ph1><ph2>", "<acc>Ouvrir <ph0><ph1><ph2>")
    # The target lost a span: the pair stays as it is.
    assert protect_pair("Missing %s in %s", "Manquant") == ("Missing %s in %s", "Manquant")


def test_repair_keeps_each_span_as_often_as_the_source_and_never_drops_a_tag():
    p = protect("Click <b>Save</b> now")
    assert not restore("Cliquez <ph0>Enregistrer maintenant", p).faithful
    assert (
        repair("Cliquez <ph0>Enregistrer maintenant", p) == "Cliquez <b>Enregistrer maintenant </b>"
    )
    p = protect("Open %s")
    assert repair("Ouvrir <ph0> <ph0> <ph7> <acc>", p) == "Ouvrir %s   "
