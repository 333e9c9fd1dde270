//! Placeholder protection agrees with the Python specification (`protect.py`) on every shared
//! case of `tests/data/protect_cases.json`, which pytest checks against protect.py too.

use padir::text::protect::{protect, repair, restore};
use serde_json::Value;

#[test]
fn rust_protection_matches_the_python_specification() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/protect_cases.json");
    let cases: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(cases.len() >= 20);
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    for c in &cases {
        let text = c["text"].as_str().unwrap();
        let p = protect(text);
        assert_eq!(p.text, c["protected"].as_str().unwrap(), "{text}");
        assert_eq!(p.spans, strings(&c["spans"]), "{text}");
        assert_eq!(p.kinds, strings(&c["kinds"]), "{text}");
        let markers: Vec<String> = p.markers.iter().map(|m| m.to_string()).collect();
        assert_eq!(markers, strings(&c["markers"]), "{text}");
        let r = restore(c["translation"].as_str().unwrap(), &p);
        assert_eq!(r.text, c["restored"].as_str().unwrap(), "{text}");
        assert_eq!(r.faithful, c["faithful"].as_bool().unwrap(), "{text}");
        let repaired = repair(c["translation"].as_str().unwrap(), &p);
        assert_eq!(repaired, c["repaired"].as_str().unwrap(), "{text}");
    }
}

mod common;

/// Through the whole translator on `onnx/tiny` (a vocabulary with placeholder tokens): every
/// protected span comes back exactly as often as in the source, in both modes, whatever the
/// tiny model makes of the words.
#[test]
fn translations_keep_every_protected_span() {
    use padir::{DecodeOptions, Translator, TranslatorOptions};
    let t = Translator::load(
        common::TINY,
        &TranslatorOptions {
            intra_threads: 1,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(t.protects(), "onnx/tiny has placeholder tokens");
    let texts = [
        "Cannot open file %s: %s",
        "Error %1$s at line %2$d",
        "Click <b>Save</b> to keep your changes",
        "See https://www.debian.org/ for {count} more files",
        "Copy /etc/apt/sources.list to ~/backup\\n",
        "&File",
        "%d of %d files copied, %s left",
        "Open the file",
    ];
    for options in [DecodeOptions::nar(), DecodeOptions::ar()] {
        let out = t.translate(&texts, &options).unwrap();
        for (src, o) in texts.iter().zip(&out) {
            let p = protect(src);
            for s in &p.spans {
                assert_eq!(
                    o.text.matches(s.as_str()).count(),
                    src.matches(s.as_str()).count(),
                    "{s:?} in {src:?} -> {:?}",
                    o.text
                );
            }
            assert!(!(o.fallback && matches!(options.mode, padir::Mode::Ar)));
        }
        // printf conversions without a position keep their order: %d, %d, %s.
        let seventh = &out[6].text;
        let order: Vec<&str> = ["%d", "%s"]
            .iter()
            .flat_map(|c| seventh.match_indices(c))
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_values()
            .collect();
        assert_eq!(order, ["%d", "%d", "%s"], "{seventh:?}");
    }
    // Off: the model reads the raw text, and nothing is re-decoded or repaired.
    let raw = DecodeOptions {
        protect: false,
        ..DecodeOptions::nar()
    };
    for o in t.translate(&texts, &raw).unwrap() {
        assert!(!o.fallback && !o.repaired);
    }
}
