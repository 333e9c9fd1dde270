//! Draft-and-verify (`Mode::Verify`) must give exactly greedy AR's output, token for token, on
//! every sentence of the dev set and the held-out test set.

mod common;

use padir::{DecodeOptions, Mode, NarOptions, Translator, TranslatorOptions};

fn sources(file: &str) -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/").to_string() + file;
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect()
}

fn plain(mode: Mode) -> DecodeOptions {
    DecodeOptions {
        mode,
        protect: false,
        // Sentence by sentence, as a user translates (both modes split the same way; the
        // few lines too long for the model could not be read whole).
        sentences: true,
        ..DecodeOptions::default()
    }
}

fn check_identical(model: &str) {
    let t = Translator::load(model, &TranslatorOptions::default()).unwrap();
    assert!(t.has_ar(), "{model} ships no AR graphs");
    for file in ["dev.en-fr.tsv", "test.instguide.en-fr.tsv"] {
        let src = sources(file);
        let ar = t.translate(&src, &plain(Mode::Ar)).unwrap();
        // Two drafts (1 pass on dev, the default 2 on test): exactness must not depend on the
        // draft. One setting per set keeps the test short on 2 cores.
        let draft_iterations = if file.starts_with("dev") { 1 } else { 2 };
        let mode = Mode::Verify(NarOptions {
            iterations: Some(draft_iterations),
            ..Default::default()
        });
        let verify = t.translate(&src, &plain(mode)).unwrap();
        let differ: Vec<usize> = (0..src.len())
            .filter(|&i| ar[i].ids != verify[i].ids)
            .collect();
        assert!(
            differ.is_empty(),
            "{file}, draft of {draft_iterations} pass(es): {} of {} outputs differ from AR, \
             first line {}: AR {:?} verify {:?}",
            differ.len(),
            src.len(),
            differ[0] + 1,
            ar[differ[0]].text,
            verify[differ[0]].text
        );
    }
}

#[test]
fn verify_gives_exactly_the_ar_output_on_tiny() {
    check_identical(common::TINY);
}

#[test]
fn verify_gives_exactly_the_ar_output_on_the_int8_demo_model() {
    // int8, where a near-tie would show any difference between a chunk pass and single steps
    // (export/padir_export/model.py, `rowwise_attention`).
    check_identical(common::EN_FR);
}

#[test]
fn verify_needs_the_ar_graphs() {
    // A model without the AR teacher says so instead of decoding some other way.
    let dir = common::TempDir::with_tiny_copy("no-ar");
    let manifest = dir.path().join("model.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let graphs = m["graphs"].as_object_mut().unwrap();
    graphs.remove("ar_encoder");
    graphs.remove("ar_decoder");
    m.as_object_mut().unwrap().remove("ar");
    std::fs::write(&manifest, m.to_string()).unwrap();
    let t = Translator::load(dir.path(), &TranslatorOptions::default()).unwrap();
    assert!(!t.has_ar());
    let err = t
        .translate(&["Open the file."], &DecodeOptions::verify())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no AR decoder, which verify mode needs"),
        "{err}"
    );
}
