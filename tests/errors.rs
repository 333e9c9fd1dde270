//! Bad models and bad requests give clear errors, never panics.

mod common;

use common::TempDir;
use padir::{DecodeOptions, Error, Mode, NarOptions, Translator, TranslatorOptions};

fn load(dir: &std::path::Path, verify: bool) -> Result<Translator, Error> {
    Translator::load(
        dir,
        &TranslatorOptions {
            verify_checksums: verify,
            ..Default::default()
        },
    )
}

fn expect_model_error(r: Result<Translator, Error>, needle: &str) {
    match r {
        Err(Error::Model(m)) => assert!(
            m.contains(needle),
            "message {m:?} should mention {needle:?}"
        ),
        Err(e) => panic!("expected a model error mentioning {needle:?}, got {e}"),
        Ok(_) => panic!("expected a model error mentioning {needle:?}, got a translator"),
    }
}

#[test]
fn missing_model_directory() {
    expect_model_error(
        load(std::path::Path::new("/nonexistent/padir-model"), true),
        "does not exist",
    );
}

#[test]
fn missing_manifest() {
    let t = TempDir::new("empty");
    expect_model_error(load(t.path(), true), "model.json");
}

#[test]
fn manifest_that_is_not_json() {
    let t = TempDir::with_tiny_copy("badjson");
    std::fs::write(t.path().join("model.json"), "{ not json").unwrap();
    expect_model_error(load(t.path(), true), "bad manifest");
}

#[test]
fn manifest_with_unknown_field_or_version() {
    let t = TempDir::with_tiny_copy("badfield");
    let text = std::fs::read_to_string(t.path().join("model.json")).unwrap();
    std::fs::write(
        t.path().join("model.json"),
        text.replacen('{', "{\"surprise\": 1,", 1),
    )
    .unwrap();
    expect_model_error(load(t.path(), true), "surprise");
    std::fs::write(
        t.path().join("model.json"),
        text.replace("\"format_version\": 1", "\"format_version\": 99"),
    )
    .unwrap();
    expect_model_error(load(t.path(), true), "format_version 99");
}

#[test]
fn corrupt_graph_file_fails_checksum() {
    let t = TempDir::with_tiny_copy("corrupt");
    std::fs::write(t.path().join("decoder.onnx"), b"definitely not a protobuf").unwrap();
    expect_model_error(load(t.path(), true), "corrupt");
}

#[test]
fn corrupt_graph_file_fails_loading_without_checksums() {
    let t = TempDir::with_tiny_copy("corrupt2");
    std::fs::write(t.path().join("decoder.onnx"), b"definitely not a protobuf").unwrap();
    expect_model_error(load(t.path(), false), "decoder.onnx");
}

#[test]
fn missing_graph_file() {
    let t = TempDir::with_tiny_copy("missing");
    std::fs::remove_file(t.path().join("encoder.onnx")).unwrap();
    expect_model_error(load(t.path(), false), "encoder.onnx");
}

#[test]
fn bad_decode_options_and_inputs() {
    let t = load(std::path::Path::new(common::TINY), true).unwrap();
    let nar = |o: NarOptions| DecodeOptions {
        mode: Mode::Nar(o),
        ..DecodeOptions::default()
    };
    let invalid = |r: padir::Result<Vec<padir::Translation>>, needle: &str| match r {
        Err(Error::InvalidArgument(m)) => {
            assert!(m.contains(needle), "{m:?} should mention {needle:?}")
        }
        other => panic!("expected an invalid-argument error about {needle:?}, got {other:?}"),
    };
    invalid(
        t.translate(
            &["hi"],
            &nar(NarOptions {
                iterations: Some(0),
                ..Default::default()
            }),
        ),
        "iterations",
    );
    invalid(
        t.translate(
            &["hi"],
            &nar(NarOptions {
                length_beam: Some(1000),
                ..Default::default()
            }),
        ),
        "length beam",
    );
    invalid(
        t.translate(
            &["hi"],
            &DecodeOptions {
                max_length: Some(0),
                ..DecodeOptions::default()
            },
        ),
        "max length",
    );
    invalid(
        t.translate(
            &["hi"],
            &DecodeOptions {
                batch_size: 0,
                ..DecodeOptions::default()
            },
        ),
        "batch size",
    );
    let huge = "word ".repeat(5000);
    let whole = DecodeOptions {
        sentences: false,
        ..DecodeOptions::nar()
    };
    invalid(t.translate(&["fine", huge.as_str()], &whole), "input 1 has");
    // Sentence by sentence (the default), a text too long for the model is cut into parts and
    // translated, with the cut reported.
    let out = t
        .translate(&["fine", huge.as_str()], &DecodeOptions::nar())
        .unwrap();
    assert!(out[1].split && out[1].sentences > 1 && !out[1].text.is_empty());
    assert!(!out[0].split && out[0].sentences == 1);
    // Empty and blank inputs give empty outputs, and nothing else is lost.
    let out = t
        .translate(&["", "   ", "Open the file"], &DecodeOptions::nar())
        .unwrap();
    assert_eq!(out[0].text, "");
    assert_eq!(out[1].text, "");
    assert!(!out[2].text.is_empty());
    assert!(t
        .translate::<&str>(&[], &DecodeOptions::nar())
        .unwrap()
        .is_empty());
}

fn edit_manifest(t: &TempDir, from: &str, to: &str) {
    let path = t.path().join("model.json");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains(from),
        "the tiny manifest should contain {from:?}"
    );
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn manifest_paths_must_stay_inside_the_model_directory() {
    for bad in [
        "../../etc/passwd",
        "/etc/passwd",
        "sub/../../decoder.onnx",
        "",
    ] {
        let t = TempDir::with_tiny_copy("escape");
        edit_manifest(&t, "\"decoder.onnx\"", &format!("{bad:?}"));
        // Refused before any file is opened or hashed, with or without checksums.
        expect_model_error(load(t.path(), false), "not a relative path inside");
    }
}

#[test]
fn manifest_must_match_the_graphs_it_lists() {
    let t = TempDir::with_tiny_copy("classes");
    edit_manifest(&t, "\"num_classes\": 33", "\"num_classes\": 1000");
    expect_model_error(load(t.path(), false), "num_classes = 1000");
    let t = TempDir::with_tiny_copy("heads");
    edit_manifest(&t, "\"heads\": 2", "\"heads\": 4");
    expect_model_error(load(t.path(), false), "ar.heads = 4");
}

#[test]
fn shortlist_must_match_the_decoder_and_the_vocabulary() {
    // The tiny decoder scores a shortlist: a manifest without one is refused, not run.
    let t = TempDir::with_tiny_copy("no-shortlist");
    let path = t.path().join("model.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    manifest.as_object_mut().unwrap().remove("shortlist");
    std::fs::write(&path, manifest.to_string()).unwrap();
    expect_model_error(load(t.path(), false), "manifest names none");
    // A truncated shortlist file, and one made for another vocabulary.
    let t = TempDir::with_tiny_copy("short-shortlist");
    let file = t.path().join("shortlist.bin");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 2]).unwrap();
    expect_model_error(load(t.path(), false), "bad shortlist");
    expect_model_error(load(t.path(), true), "corrupt");
    let t = TempDir::with_tiny_copy("other-shortlist");
    let mut other = bytes.clone();
    other[8] ^= 1; // vocabulary size 1000 -> 1001
    std::fs::write(t.path().join("shortlist.bin"), other).unwrap();
    expect_model_error(load(t.path(), false), "the model has 1000");
}

#[test]
fn threads_are_bounded_by_the_machine() {
    let cores = std::thread::available_parallelism().unwrap().get();
    let with = |threads: usize, force: bool| {
        Translator::load(
            common::TINY,
            &TranslatorOptions {
                intra_threads: threads,
                force_threads: force,
                ..Default::default()
            },
        )
    };
    let invalid = |r: Result<Translator, Error>, needle: &str| match r {
        Err(Error::InvalidArgument(m)) => assert!(m.contains(needle), "{m:?}"),
        Err(e) => panic!("expected an invalid argument about {needle:?}, got {e}"),
        Ok(_) => panic!("expected an invalid argument about {needle:?}, got a translator"),
    };
    invalid(with(cores + 1, false), &format!("{cores} cores"));
    invalid(with(20_000, false), "force");
    invalid(
        with(padir::MAX_FORCED_THREADS + 1, true),
        &padir::MAX_FORCED_THREADS.to_string(),
    );
    assert!(with(cores, false).is_ok());
    assert!(with(cores + 1, true).is_ok());
}

#[test]
fn a_huge_input_is_refused_before_it_is_tokenized() {
    let t = load(std::path::Path::new(common::TINY), true).unwrap();
    // 8 MB: tokenizing it first took 1.1 GB; now the byte count alone refuses it.
    let huge = "a".repeat(8 << 20);
    match t.check_source(&huge) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("bytes"), "{m:?}"),
        other => panic!("expected a length error, got {other:?}"),
    }
    // A text just inside the token limit is still read: the byte bound never refuses it.
    let fits = "Open the file ".repeat(20);
    assert!(t.check_source(&fits).is_ok());
}

#[test]
fn onnxruntime_library_is_checked_and_fixed_once_loaded() {
    match padir::set_onnxruntime_library("/nonexistent/libonnxruntime.so") {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("no ONNX Runtime library"), "{m}"),
        other => panic!("expected an invalid-argument error, got {other:?}"),
    }
    let tiny = std::path::Path::new(common::TINY);
    load(tiny, false).expect("onnx/tiny loads");
    // Once loaded, another library is refused (any existing file stands in for one) ...
    match padir::set_onnxruntime_library(tiny.join("model.json")) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("already loaded"), "{m}"),
        other => panic!("expected an invalid-argument error, got {other:?}"),
    }
    // ... and the library in use is accepted again.
    let ort = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".ort/libonnxruntime.so");
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        padir::set_onnxruntime_library(ort).expect("the library in use");
    }
}
