"""Write `tests/data/protect_cases.json`, the cases on which the Rust protection
(`src/text/protect.rs`) must agree with `protect.py`: hand-written ones with a translation each,
and real corpus sources with spans restored from their own protected text.

    python -m padir_export.protect_cases --corpus ../shared/data/train.en-fr.tsv.gz

Rerun it after changing `protect.py` (pytest fails until the file matches), then make the Rust
side pass `cargo test --test protect`.
"""

from __future__ import annotations

import argparse
import gzip
import json

from .pipeline import REPO_ROOT
from .protect import protect, repair, restore

# (source, a model's protected output)
HAND_WRITTEN = [
    ("Cannot open file %s: %s", "Impossible d'ouvrir le fichier <ph0> : <ph1>"),
    ("Error %1$s at line %2$d", "Erreur <ph0> à la ligne <ph1>"),
    ("Error %1$s at line %2$d", "À la ligne <ph1>, erreur <ph0>"),
    ("%d of %s files", "<ph1> : <ph0> fichiers"),
    ("%d/%d under %s", "<ph0>/<ph1> en dessous de <ph2>"),
    ("Hello %(name)s, you have %(count)d messages", "Bonjour <ph0>, vous avez <ph1> messages"),
    ("100%% done", "Terminé à 100<ph0>"),
    ("50% off and 25% more", "50 % de remise"),
    ("File %1 of %2", "Fichier <ph0> sur <ph1>"),
    ("{count} files in {0}", "{count} fichiers"),
    (
        "Click <b>Save</b> to keep &amp; close",
        "Cliquez sur <ph0>Enregistrer<ph1> pour garder <ph2> fermer",
    ),
    ('<a href="https://example.org/x">Help</a>', "<ph0>Aide<ph1>"),
    (
        "See https://www.debian.org/doc/, or mail debian-user@lists.debian.org.",
        "Voir <ph0>, ou écrivez à <ph1>.",
    ),
    ("Edit /etc/apt/sources.list and ~/.bashrc, not km /h", "Modifiez <ph0> et <ph1>"),
    ("&File", "<acc>Fichier"),
    ("&File", "Fichiers"),
    ("/_File/_Open (recent)", "/Fichier/Ouvrir (récent)"),
    ("_Open the _recent file_name", "<acc>Ouvrir le fichier <acc>récent"),
    ("Line one\\nLine two", "Ligne un<ph0>Ligne deux"),
    ("Literal <ph0> in text", "<ph0> littéral"),
    (
        "Save the file before closing the window.",
        "Enregistrez le fichier avant de fermer la fenêtre.",
    ),
    ("Missing %s", "Manquant"),
    ("Twice %s", "Deux fois <ph0> <ph0>"),
    ("Unknown", "Inconnu <ph3>"),
    ("%s", "<acc><ph0>"),
    # a restored span that makes a new one with the next letter, and a `%` of the model's own
    ('The item "%1" has sub-items', "L'élément « <ph0>d » a des sous-éléments"),
    ("Unknown kind in %s tag at %L", "Type %LG inconnu dans la balise <ph0> à %L"),
]


def case(text: str, translation: str | None = None) -> dict:
    p = protect(text)
    translation = p.text if translation is None else translation
    r = restore(translation, p)
    return {
        "text": text,
        "protected": p.text,
        "spans": p.spans,
        "kinds": p.kinds,
        "markers": p.markers,
        "translation": translation,
        "restored": r.text,
        "faithful": r.faithful,
        "repaired": repair(translation, p),
    }


def corpus_cases(path: str, lines: int = 300_000, every: int = 97, most: int = 150) -> list:
    """Every `every`-th source with spans among the first `lines`, up to `most`."""
    out, seen = [], 0
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= lines or len(out) >= most:
                break
            src = line.split("\t")[0]
            p = protect(src)
            if p.spans or p.markers:
                seen += 1
                if seen % every == 0:
                    out.append(case(src))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", default="../shared/data/train.en-fr.tsv.gz")
    args = ap.parse_args()
    cases = [case(s, t) for s, t in HAND_WRITTEN] + corpus_cases(args.corpus)
    path = REPO_ROOT / "tests" / "data" / "protect_cases.json"
    path.write_text(json.dumps(cases, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {path}")


if __name__ == "__main__":
    main()
