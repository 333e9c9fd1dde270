//! The decoding algorithms, written against small model traits so they are tested with scripted
//! fake models (see the tests in `nar.rs`, `ar.rs` and `verify.rs`) and run for real on ONNX graphs
//! (`crate::model::OnnxModel`).
//!
//! The specification both loops follow is the docstring of the Python reference decoder,
//! `export/padir_export/reference.py`; `tests/golden.rs` checks that they agree token for token.

mod ar;
mod nar;
pub(crate) mod rng;
mod verify;

pub use ar::decode_ar;
pub use nar::decode_nar;
pub use verify::decode_verify;

use ndarray::Array2;

use crate::error::Result;

/// Token ids with a fixed meaning, from the model manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialTokens {
    pub pad: i64,
    pub eos: i64,
    pub mask: i64,
    /// Ids below this are special; `random` initialisation draws from `first_regular..vocab_size`.
    pub first_regular: i64,
    pub vocab_size: i64,
}

/// Log-probabilities of target lengths for one sentence: entry `c` scores length
/// `first_length + c` (counted without `</s>`; may start below 1, lengths are clamped later).
#[derive(Debug, Clone, PartialEq)]
pub struct LengthScores {
    pub first_length: i64,
    pub logprobs: Vec<f32>,
}

/// The decoder's answer for a batch of rows: per position the best token and its log-prob.
pub struct Predictions {
    pub tokens: Array2<i64>,
    pub logprobs: Array2<f32>,
}

/// What the PaDIR refinement loop needs from a model.
pub trait NarModel {
    /// Encoder output for a batch of sentences, kept for the decoder passes.
    type Memory;
    fn special_tokens(&self) -> SpecialTokens;
    /// Encode token ids (each ending in `</s>`); one sentence per entry.
    fn encode(&self, sources: &[Vec<i64>]) -> Result<Self::Memory>;
    /// Length distribution of every encoded sentence.
    fn predict_lengths(&self, memory: &Self::Memory) -> Result<Vec<LengthScores>>;
    /// One non-causal decoder pass. Row `r` belongs to sentence `sentences[r]`; `tokens` and
    /// `mask` are `[rows, width]`, padded with `pad` / 0.
    fn refine(
        &self,
        memory: &Self::Memory,
        sentences: &[usize],
        tokens: &Array2<i64>,
        mask: &Array2<i64>,
    ) -> Result<Predictions>;
}

/// What greedy autoregressive decoding needs from a model (with a key/value cache).
pub trait ArModel {
    /// Encoder output and decoder cache of the rows still being decoded.
    type State;
    fn special_tokens(&self) -> SpecialTokens;
    fn start(&self, sources: &[Vec<i64>]) -> Result<Self::State>;
    /// Feed each row's previous token; get each row's next token and its log-prob.
    fn step(&self, state: &mut Self::State, previous: &[i64]) -> Result<(Vec<i64>, Vec<f32>)>;
    /// Keep only the given rows (in this order) for the next steps.
    fn retain(&self, state: &mut Self::State, rows: &[usize]) -> Result<()>;
}

/// What draft-and-verify (`decode_verify`) needs beyond greedy AR: the teacher's causal pass
/// over several tokens after its cache, and cutting the cache back. The state holds one row.
pub trait ArChunkModel: ArModel {
    /// Feed `tokens` at the positions after the cache: per position the best next token and
    /// its log-prob (what `step` would answer after feeding them one by one); the cache grows
    /// by `tokens.len()`.
    fn check(&self, state: &mut Self::State, tokens: &[i64]) -> Result<(Vec<i64>, Vec<f32>)>;
    /// Keep the first `len` cache positions.
    fn truncate(&self, state: &mut Self::State, len: usize) -> Result<()>;
}

/// How accepted predictions are chosen in each refinement iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// PaDIR's default: every new prediction stands.
    RefineAll,
    /// Mask-predict: keep the confident tokens, re-mask the n least confident, n shrinking to 0.
    MaskPredict,
}

/// What the decoder sees at the first pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// Every position is `<mask>`.
    Mask,
    /// Uniformly random regular tokens from a seeded SplitMix64 stream.
    Random,
}

/// Fully resolved NAR settings (manifest defaults already applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NarParams {
    pub iterations: usize,
    pub length_beam: usize,
    pub top_lengths: usize,
    pub init: Init,
    pub acceptance: Acceptance,
    pub remask_stutter: bool,
    pub seed: u64,
    pub max_length: usize,
    /// After this many passes, only each sentence's best-scoring length candidate is refined
    /// further (0 = never prune).
    pub prune_after: usize,
}

/// One decoded sentence, before detokenisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    pub tokens: Vec<i64>,
    /// Mean log-probability (see the reference decoder for exactly which positions).
    pub score: f32,
    /// Target length chosen (NAR) or produced (AR), without `</s>`.
    pub length: usize,
    /// Decoder passes this sentence took part in.
    pub iterations: usize,
}

/// Left-to-right f64 mean, the same in the reference decoder, so rankings agree exactly.
fn mean(values: &[f32]) -> f64 {
    values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64
}

/// What the decode loops' unit tests share: the special tokens of their scripted fake models and
/// plain NAR settings.
#[cfg(test)]
pub(crate) mod test_support {
    use super::{Acceptance, Init, NarParams, SpecialTokens};

    pub const SP: SpecialTokens = SpecialTokens {
        pad: 0,
        eos: 1,
        mask: 3,
        first_regular: 4,
        vocab_size: 100,
    };

    /// `iterations` passes over `length_beam` lengths around the best one; everything else off.
    pub fn nar_params(iterations: usize, length_beam: usize) -> NarParams {
        NarParams {
            iterations,
            length_beam,
            top_lengths: 1,
            init: Init::Mask,
            acceptance: Acceptance::RefineAll,
            remask_stutter: false,
            seed: 0,
            max_length: 64,
            prune_after: 0,
        }
    }
}
