//! Random input through the Rust API and the C ABI on `onnx/tiny`: every call returns a result
//! or a clear error, never a panic, and a result has one translation per input.
//! A bounded run (64 cases per property; `PROPTEST_CASES=N` for a longer one).

mod common;

use std::ffi::{CStr, CString};
use std::sync::OnceLock;

use padir::capi::{
    padir_result, padir_result_free, padir_result_len, padir_result_text, padir_status,
    padir_translate, padir_translator, padir_translator_new,
};
use padir::{DecodeOptions, Error, Mode, NarOptions, Translator, TranslatorOptions};
use proptest::prelude::*;

fn translator() -> &'static Translator {
    static T: OnceLock<Translator> = OnceLock::new();
    T.get_or_init(|| {
        let options = TranslatorOptions {
            intra_threads: 1,
            ..Default::default()
        };
        Translator::load(common::TINY, &options).unwrap()
    })
}

/// Texts of random bytes (made UTF-8), some of them long, mixed with text-like words.
fn texts() -> impl Strategy<Value = Vec<String>> {
    let raw = prop::collection::vec(any::<u8>(), 0..300)
        .prop_map(|b| String::from_utf8_lossy(&b).into_owned());
    let words = prop::collection::vec("[a-zA-Z%{}<>&$0-9 ]{0,12}", 0..40).prop_map(|w| w.join(" "));
    prop::collection::vec(prop_oneof![raw, words], 0..6)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn rust_api_never_panics(texts in texts(), iterations in 0usize..6, ar in any::<bool>()) {
        let options = DecodeOptions {
            mode: if ar {
                Mode::Ar
            } else {
                Mode::Nar(NarOptions { iterations: Some(iterations), ..Default::default() })
            },
            max_length: Some(32),
            ..DecodeOptions::default()
        };
        match translator().translate(&texts, &options) {
            Ok(out) => prop_assert_eq!(out.len(), texts.len()),
            Err(Error::InvalidArgument(m)) => prop_assert!(!m.is_empty()),
            Err(e) => prop_assert!(false, "unexpected error kind: {}", e),
        }
    }

    #[test]
    fn c_abi_never_panics(raw in prop::collection::vec(prop::collection::vec(1u8..=255, 0..200), 0..5)) {
        static HANDLE: OnceLock<usize> = OnceLock::new();
        let t = *HANDLE.get_or_init(|| {
            let dir = CString::new(common::TINY).unwrap();
            let mut t: *mut padir_translator = std::ptr::null_mut();
            let status = unsafe { padir_translator_new(dir.as_ptr(), std::ptr::null(), &mut t) };
            assert_eq!(status, padir_status::PADIR_OK);
            t as usize
        }) as *mut padir_translator;
        // Raw bytes, not UTF-8 checked: the C ABI must check them itself.
        let owned: Vec<CString> = raw.iter().map(|b| CString::new(b.clone()).unwrap()).collect();
        let ptrs: Vec<*const std::ffi::c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        let mut r: *mut padir_result = std::ptr::null_mut();
        let status = unsafe { padir_translate(t, ptrs.as_ptr(), ptrs.len(), std::ptr::null(), &mut r) };
        let all_utf8 = raw.iter().all(|b| std::str::from_utf8(b).is_ok());
        match status {
            padir_status::PADIR_OK => {
                prop_assert!(all_utf8);
                let len = unsafe { padir_result_len(r) };
                prop_assert_eq!(len, raw.len());
                for i in 0..raw.len() {
                    let text = unsafe { padir_result_text(r, i) };
                    prop_assert!(!text.is_null());
                    let utf8 = unsafe { CStr::from_ptr(text) }.to_str().is_ok();
                    prop_assert!(utf8);
                }
                unsafe { padir_result_free(r) };
            }
            padir_status::PADIR_ERR_INVALID_ARGUMENT => prop_assert!(r.is_null()),
            other => prop_assert!(false, "unexpected status {:?}", other),
        }
    }
}
