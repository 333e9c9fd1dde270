//! The model layer: what `export/` wrote (manifest, graphs, tokenizer), loaded and ready to run.

mod manifest;
mod onnx;
mod runtime;
mod shortlist;

pub(crate) use manifest::{parse_acceptance, parse_init};
pub use manifest::{
    ArShape, DecodeDefaults, FileEntry, LengthPredictor, Manifest, SpecialTokenIds, FORMAT_VERSION,
};
pub use onnx::OnnxModel;
pub use runtime::{environment, set_onnxruntime_library};
