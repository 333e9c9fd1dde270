//! The C ABI: a thin shell over [`crate::Translator`]. The header `bindings/c/padir.h` is
//! generated from this file by cbindgen (`tests/header.rs` fails when they drift apart;
//! `PADIR_UPDATE_HEADER=1 cargo test --test header` rewrites it).
//!
//! Rules kept by every entry point: panics are caught (never unwind into C); NULL pointers,
//! invalid UTF-8 and out-of-range indices give an error status (or NULL / 0 from accessors) and
//! set the thread-local last error; nothing aborts the process.
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)] // the safety contract of each function is in the header

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::decode::{Acceptance, Init};
use crate::{
    DecodeOptions, Error, ExecutionProvider, Mode, NarOptions, Translator, TranslatorOptions,
};

/// A loaded model. Create with `padir_translator_new`, release with `padir_translator_free`.
/// One translator may be used from several threads at once.
pub struct padir_translator {
    inner: Translator,
}

/// The translations of one `padir_translate` call. Release with `padir_result_free`.
pub struct padir_result {
    items: Vec<ResultItem>,
}

struct ResultItem {
    text: CString,
    score: f32,
    iterations: i32,
    length: i32,
    flags: i32,
}

/// `padir_result_flags`: the PaDIR output lost a protected span and the text was decoded again
/// with the AR model.
pub const PADIR_FLAG_FALLBACK_AR: i32 = 1;
/// `padir_result_flags`: no decoding kept every protected span; they were put back by repair.
pub const PADIR_FLAG_REPAIRED: i32 = 2;
/// `padir_result_flags`: a sentence was longer than the model reads and was cut into parts.
pub const PADIR_FLAG_SPLIT: i32 = 4;
/// `padir_result_flags`: an output ran into the length limit; its end may be missing.
pub const PADIR_FLAG_TRUNCATED: i32 = 8;

/// Outcome of a call. On anything but `PADIR_OK`, `padir_last_error()` says what went wrong.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum padir_status {
    PADIR_OK = 0,
    /// A NULL pointer, invalid UTF-8, an unknown option value, an input too long, ...
    PADIR_ERR_INVALID_ARGUMENT = 1,
    /// The model directory is missing, incomplete or corrupt.
    PADIR_ERR_MODEL = 2,
    /// ONNX Runtime could not be loaded, an execution provider failed, or a run failed.
    PADIR_ERR_RUNTIME = 3,
    /// A bug in padir (a caught panic); please report it.
    PADIR_ERR_INTERNAL = 4,
}

/// How a translator loads and runs its graphs. Get the defaults from `padir_default_options()`;
/// a zero field means "default", so a zero-initialised struct is valid too. New fields are only
/// ever appended.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct padir_options {
    /// Threads inside one graph run; 0 = one per physical core.
    pub intra_threads: i32,
    /// 0 = CPU, 1 = CUDA, 2 = CoreML (the last two need a padir built with that feature).
    pub execution_provider: i32,
    /// 1 = run on the CPU if the execution provider cannot be used; 0 = fail instead.
    pub allow_fallback: i32,
    /// 1 = let idle threads spin (lower latency, more CPU use between calls); 0 = no spinning.
    pub spinning: i32,
    /// 1 = skip checking the model files' sha256 at load; 0 = check them.
    pub skip_checksums: i32,
    /// 1 = allow `intra_threads` above the machine's cores (at most 256); 0 = refuse them.
    pub force_threads: i32,
}

/// Most texts one `padir_translate` call takes (larger counts are refused before anything is
/// allocated; translate in several calls).
pub const PADIR_MAX_TEXTS: usize = 1 << 20;

/// How one `padir_translate` call decodes. Get the defaults from
/// `padir_default_decode_options()`; a zero field means "the model's default".
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct padir_decode_options {
    /// 0 = PaDIR (non-autoregressive), 1 = greedy autoregressive baseline, 2 = draft-and-verify
    /// (exactly mode 1's output; the NAR fields set the draft).
    pub mode: i32,
    /// Most refinement passes (NAR).
    pub iterations: i32,
    /// Lengths tried around each predicted length (NAR).
    pub length_beam: i32,
    /// Most target tokens per sentence.
    pub max_length: i32,
    /// Sentences decoded together (default 32).
    pub batch_size: i32,
    /// Most likely predicted lengths tried (NAR).
    pub top_lengths: i32,
    /// 1 = all `<mask>`, 2 = random tokens (NAR).
    pub init: i32,
    /// 1 = refine all, 2 = mask-predict (NAR).
    pub acceptance: i32,
    /// 1 = reject a token equal to its left neighbour, 2 = keep it (NAR).
    pub remask_stutter: i32,
    /// 1 = do not protect placeholders and markup; 0 = protect them where the model can.
    pub no_protect: i32,
    /// 1 = translate each text as one piece (too long = an error); 0 = sentence by sentence,
    /// joined with the original spacing, a sentence too long for the model cut further.
    pub no_sentences: i32,
    /// After this many passes refine only each sentence's best length (NAR); 0 = the model's
    /// default, -1 = never (refine every length to the end).
    pub prune_after: i32,
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(msg: &str) {
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

fn status_of(e: &Error) -> padir_status {
    match e {
        Error::InvalidArgument(_) => padir_status::PADIR_ERR_INVALID_ARGUMENT,
        Error::Model(_) => padir_status::PADIR_ERR_MODEL,
        Error::Runtime(_) => padir_status::PADIR_ERR_RUNTIME,
    }
}

/// Run `f` with panics caught; on an error or a panic, record the thread's last error and
/// return the status to report.
fn guarded<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, padir_status> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            set_last_error(&e.to_string());
            Err(status_of(&e))
        }
        Err(_) => {
            set_last_error("internal error: padir panicked (this is a bug; please report it)");
            Err(padir_status::PADIR_ERR_INTERNAL)
        }
    }
}

/// For entry points that return a status.
fn guard(f: impl FnOnce() -> Result<(), Error>) -> padir_status {
    guarded(f).err().unwrap_or(padir_status::PADIR_OK)
}

/// For accessors: `fallback` on error or panic.
fn guard_value<T>(fallback: T, f: impl FnOnce() -> Result<T, Error>) -> T {
    guarded(f).unwrap_or(fallback)
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(msg.into())
}

unsafe fn c_str<'a>(p: *const c_char, what: &str) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(invalid(format!("{what} is NULL")));
    }
    CStr::from_ptr(p)
        .to_str()
        .map_err(|_| invalid(format!("{what} is not valid UTF-8")))
}

/// Non-negative option value, or an error naming the field.
fn count(v: i32, what: &str) -> Result<Option<usize>, Error> {
    match v {
        0 => Ok(None),
        v if v > 0 => Ok(Some(v as usize)),
        v => Err(invalid(format!("{what} must not be negative (got {v})"))),
    }
}

fn choice<T: Copy>(v: i32, what: &str, values: &[T]) -> Result<Option<T>, Error> {
    match v {
        0 => Ok(None),
        v if v > 0 && (v as usize) <= values.len() => Ok(Some(values[v as usize - 1])),
        v => Err(invalid(format!("unknown {what} {v}"))),
    }
}

fn translator_options(o: &padir_options) -> Result<TranslatorOptions, Error> {
    let provider = match o.execution_provider {
        0 => ExecutionProvider::Cpu,
        1 => ExecutionProvider::Cuda,
        2 => ExecutionProvider::CoreMl,
        v => return Err(invalid(format!("unknown execution provider {v}"))),
    };
    Ok(TranslatorOptions {
        intra_threads: count(o.intra_threads, "intra_threads")?.unwrap_or(0),
        force_threads: o.force_threads != 0,
        execution_provider: provider,
        allow_fallback: o.allow_fallback != 0,
        spinning: o.spinning != 0,
        verify_checksums: o.skip_checksums == 0,
    })
}

fn decode_options(o: &padir_decode_options) -> Result<DecodeOptions, Error> {
    // The PaDIR fields set the draft in verify mode.
    let nar = || -> Result<NarOptions, Error> {
        Ok(NarOptions {
            iterations: count(o.iterations, "iterations")?,
            length_beam: count(o.length_beam, "length_beam")?,
            top_lengths: count(o.top_lengths, "top_lengths")?,
            init: choice(o.init, "init", &[Init::Mask, Init::Random])?,
            acceptance: choice(
                o.acceptance,
                "acceptance",
                &[Acceptance::RefineAll, Acceptance::MaskPredict],
            )?,
            remask_stutter: choice(o.remask_stutter, "remask_stutter", &[true, false])?,
            seed: None,
            prune_after: match o.prune_after {
                0 => None,
                -1 => Some(0),
                n if n > 0 => Some(n as usize),
                n => {
                    return Err(invalid(format!(
                        "prune_after {n}: 0 = default, -1 = never, or a pass count"
                    )))
                }
            },
        })
    };
    let mode = match o.mode {
        0 => Mode::Nar(nar()?),
        1 => Mode::Ar,
        2 => Mode::Verify(nar()?),
        v => {
            return Err(invalid(format!(
                "unknown mode {v} (0 = NAR, 1 = AR, 2 = verify)"
            )))
        }
    };
    Ok(DecodeOptions {
        mode,
        max_length: count(o.max_length, "max_length")?,
        batch_size: count(o.batch_size, "batch_size")?
            .unwrap_or(DecodeOptions::default().batch_size),
        protect: o.no_protect == 0,
        sentences: o.no_sentences == 0,
    })
}

/// Default translator options (all zero: CPU, automatic threads, no fallback, no spinning).
#[no_mangle]
pub extern "C" fn padir_default_options() -> padir_options {
    padir_options {
        intra_threads: 0,
        execution_provider: 0,
        allow_fallback: 0,
        spinning: 0,
        skip_checksums: 0,
        force_threads: 0,
    }
}

/// Default decode options (all zero: PaDIR with the model's settings).
#[no_mangle]
pub extern "C" fn padir_default_decode_options() -> padir_decode_options {
    padir_decode_options {
        mode: 0,
        iterations: 0,
        length_beam: 0,
        max_length: 0,
        batch_size: 0,
        top_lengths: 0,
        init: 0,
        acceptance: 0,
        remask_stutter: 0,
        no_protect: 0,
        no_sentences: 0,
        prune_after: 0,
    }
}

/// Use the ONNX Runtime library at `path` (UTF-8; a `libonnxruntime` 1.31+) instead of looking
/// for one (`ORT_DYLIB_PATH`, beside the executable, beside libpadir). Call it before the first
/// `padir_translator_new`: once ONNX Runtime is loaded, another path is refused.
///
/// Telemetry: padir turns ONNX Runtime's usage events off as soon as it has loaded it, but the
/// `onnxruntime` wheel's library also writes a device id and one start-up event under
/// `~/.cache/Microsoft/DeveloperTools` unless `ORT_DISABLE_TELEMETRY=1` is in the process
/// environment when it loads. Set it before the first `padir_translator_new` for none at all
/// (padir does not change its host's environment).
#[no_mangle]
pub unsafe extern "C" fn padir_set_onnxruntime_library(path: *const c_char) -> padir_status {
    guard(|| crate::set_onnxruntime_library(c_str(path, "path")?))
}

/// Load the model in directory `model_dir` (UTF-8). `options` may be NULL (defaults).
/// On success `*out` receives a translator that the caller frees with `padir_translator_free`;
/// on failure `*out` is set to NULL.
#[no_mangle]
pub unsafe extern "C" fn padir_translator_new(
    model_dir: *const c_char,
    options: *const padir_options,
    out: *mut *mut padir_translator,
) -> padir_status {
    guard(|| {
        if out.is_null() {
            return Err(invalid("out is NULL"));
        }
        *out = std::ptr::null_mut();
        let dir = c_str(model_dir, "model_dir")?;
        let opts = match options.as_ref() {
            Some(o) => translator_options(o)?,
            None => TranslatorOptions::default(),
        };
        let inner = Translator::load(dir, &opts)?;
        *out = Box::into_raw(Box::new(padir_translator { inner }));
        Ok(())
    })
}

/// Translate `n` UTF-8 texts (`n` at most `PADIR_MAX_TEXTS`). `options` may be NULL (defaults); `texts` may be NULL when n is 0.
/// On success `*out` receives the results (same order), freed with `padir_result_free`; on
/// failure `*out` is set to NULL and no result is allocated. Safe to call from several threads
/// with the same translator.
#[no_mangle]
pub unsafe extern "C" fn padir_translate(
    translator: *mut padir_translator,
    texts: *const *const c_char,
    n: usize,
    options: *const padir_decode_options,
    out: *mut *mut padir_result,
) -> padir_status {
    guard(|| {
        if out.is_null() {
            return Err(invalid("out is NULL"));
        }
        *out = std::ptr::null_mut();
        let t = translator
            .as_ref()
            .ok_or_else(|| invalid("translator is NULL"))?;
        if texts.is_null() && n > 0 {
            return Err(invalid("texts is NULL"));
        }
        if n > PADIR_MAX_TEXTS {
            return Err(invalid(format!(
                "{n} texts in one call; at most {PADIR_MAX_TEXTS} (PADIR_MAX_TEXTS)"
            )));
        }
        let mut inputs = Vec::with_capacity(n);
        for i in 0..n {
            inputs.push(c_str(*texts.add(i), &format!("text {i}"))?);
        }
        let opts = match options.as_ref() {
            Some(o) => decode_options(o)?,
            None => DecodeOptions::default(),
        };
        let items = t
            .inner
            .translate(&inputs, &opts)?
            .into_iter()
            .map(|tr| ResultItem {
                // A C string cannot hold NUL; byte-level BPE could in theory produce one.
                text: CString::new(tr.text.replace('\0', "")).unwrap_or_default(),
                score: tr.score,
                iterations: tr.iterations as i32,
                length: tr.length as i32,
                flags: flags(&tr),
            })
            .collect();
        *out = Box::into_raw(Box::new(padir_result { items }));
        Ok(())
    })
}

/// The `PADIR_FLAG_*` bits of a translation.
fn flags(tr: &crate::Translation) -> i32 {
    [
        (tr.fallback, PADIR_FLAG_FALLBACK_AR),
        (tr.repaired, PADIR_FLAG_REPAIRED),
        (tr.split, PADIR_FLAG_SPLIT),
        (tr.truncated, PADIR_FLAG_TRUNCATED),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .fold(0, |acc, (_, bit)| acc | bit)
}

fn item<'a>(r: *const padir_result, i: usize) -> Result<&'a ResultItem, Error> {
    let r = unsafe { r.as_ref() }.ok_or_else(|| invalid("result is NULL"))?;
    r.items.get(i).ok_or_else(|| {
        invalid(format!(
            "index {i} is out of range (the result has {})",
            r.items.len()
        ))
    })
}

/// Number of translations in `r` (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn padir_result_len(r: *const padir_result) -> usize {
    guard_value(0, || Ok(r.as_ref().map_or(0, |r| r.items.len())))
}

/// Translation `i` (UTF-8, NUL-terminated), owned by `r` and valid until `padir_result_free(r)`.
/// NULL if `r` is NULL or `i` is out of range.
#[no_mangle]
pub unsafe extern "C" fn padir_result_text(r: *const padir_result, i: usize) -> *const c_char {
    guard_value(std::ptr::null(), || Ok(item(r, i)?.text.as_ptr()))
}

/// Mean log-probability of translation `i` (0 if `r` is NULL or `i` is out of range).
#[no_mangle]
pub unsafe extern "C" fn padir_result_score(r: *const padir_result, i: usize) -> f32 {
    guard_value(0.0, || Ok(item(r, i)?.score))
}

/// Decoder passes run for translation `i` (0 if `r` is NULL or `i` is out of range).
#[no_mangle]
pub unsafe extern "C" fn padir_result_iterations(r: *const padir_result, i: usize) -> i32 {
    guard_value(0, || Ok(item(r, i)?.iterations))
}

/// Target length, in tokens, of translation `i` (0 if `r` is NULL or `i` is out of range).
#[no_mangle]
pub unsafe extern "C" fn padir_result_length(r: *const padir_result, i: usize) -> i32 {
    guard_value(0, || Ok(item(r, i)?.length))
}

/// What happened to translation `i`: `PADIR_FLAG_FALLBACK_AR`, `PADIR_FLAG_REPAIRED`,
/// `PADIR_FLAG_SPLIT` and `PADIR_FLAG_TRUNCATED` or'ed (0 if none, or if `r` is NULL or `i` is
/// out of range).
#[no_mangle]
pub unsafe extern "C" fn padir_result_flags(r: *const padir_result, i: usize) -> i32 {
    guard_value(0, || Ok(item(r, i)?.flags))
}

/// Release a result (NULL is allowed and does nothing).
#[no_mangle]
pub unsafe extern "C" fn padir_result_free(r: *mut padir_result) {
    guard_value((), || {
        if !r.is_null() {
            drop(Box::from_raw(r));
        }
        Ok(())
    })
}

/// Release a translator (NULL is allowed and does nothing). No call may be using it.
#[no_mangle]
pub unsafe extern "C" fn padir_translator_free(t: *mut padir_translator) {
    guard_value((), || {
        if !t.is_null() {
            drop(Box::from_raw(t));
        }
        Ok(())
    })
}

/// Message of the last failed call on this thread ("" if none), owned by padir and valid until
/// the next failing call on this thread.
#[no_mangle]
pub extern "C" fn padir_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// padir's version, e.g. "0.1.0" (a static string).
#[no_mangle]
pub extern "C" fn padir_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
