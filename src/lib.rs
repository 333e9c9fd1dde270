//! padir: on-device machine translation by Parallel Decoding by Iterative Refinement (PaDIR).
//!
//! A T5-style encoder reads the source once, a length predictor guesses the target length, and a
//! non-causal decoder predicts every target token at once, then refines its own output for a few
//! iterations. The same model directory can also carry the autoregressive teacher, decoded
//! greedily with a key/value cache, as the baseline.
//!
//! Layers, in the direction data flows:
//! - [`model`]: the manifest, the ONNX Runtime sessions and the tokenizer of a model directory;
//! - [`text`]: what happens to text around the tokenizer (placeholder protection);
//! - [`decode`]: the refinement loop and the AR loop, written against small model traits;
//! - [`Translator`]: the public API; the `padir` CLI and the C ABI ([`capi`]) are shells over it.
//!
//! ```
//! use padir::{DecodeOptions, Translator, TranslatorOptions};
//! // onnx/tiny is the test model of the repository; onnx/en-fr the English-French demo model.
//! let translator = Translator::load("onnx/tiny", &TranslatorOptions::default())?;
//! for t in translator.translate(&["Cannot open file %s"], &DecodeOptions::nar())? {
//!     println!("{} (score {:.2}, {} iterations)", t.text, t.score, t.iterations);
//!     assert!(t.text.contains("%s")); // placeholders come back (see `text::protect`)
//! }
//! # Ok::<(), padir::Error>(())
//! ```

pub mod bench;
pub mod capi;
pub mod decode;
mod error;
pub mod metrics;
pub mod model;
mod options;
pub mod text;
mod translator;

pub use decode::{Acceptance, Init};
pub use error::{Error, Result};
pub use model::set_onnxruntime_library;
pub use options::{
    DecodeOptions, ExecutionProvider, Mode, NarOptions, TranslatorOptions, MAX_FORCED_THREADS,
    VERIFY_DRAFT,
};
pub use translator::{Translation, Translator};

// The README's Rust examples run as doctests (on onnx/tiny), so they cannot go stale.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The crate version, as reported by the CLI and the C ABI.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
