//! `model.json`: the description `export/` writes beside the graphs (see docs/model-contract.md).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::decode::{Acceptance, Init, SpecialTokens};
use crate::error::{Error, Result};

/// The manifest format this runtime reads.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format_version: u32,
    pub name: String,
    pub source_language: String,
    pub target_language: String,
    pub precision: String,
    pub vocab_size: i64,
    pub special_tokens: SpecialTokenIds,
    pub max_source_len: usize,
    pub max_target_len: usize,
    pub length_predictor: LengthPredictor,
    pub decode: DecodeDefaults,
    pub tokenizer: FileEntry,
    /// Graph name (`encoder`, `length_predictor`, `decoder`, `ar_encoder`, `ar_decoder`) to
    /// file; the two AR graphs (the baseline and verify mode) are optional.
    pub graphs: BTreeMap<String, FileEntry>,
    pub ar: Option<ArShape>,
    /// The lexical shortlist (`shortlist.bin`) the NAR decoder scores each sentence over;
    /// optional, and then the decoder graph takes its `vocab` input.
    #[serde(default)]
    pub shortlist: Option<FileEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecialTokenIds {
    pub pad: i64,
    pub eos: i64,
    pub unk: i64,
    pub mask: i64,
}

/// How the length predictor's classes map to target lengths.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LengthPredictor {
    /// `offset`: class c means target length = source length + min_offset + c;
    /// `absolute`: class c means target length c. Lengths never count `</s>`.
    pub kind: String,
    pub min_offset: i64,
    pub num_classes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodeDefaults {
    pub iterations: usize,
    pub length_beam: usize,
    pub top_lengths: usize,
    pub init: String,
    pub acceptance: String,
    pub remask_stutter: bool,
    pub seed: u64,
    /// After this many passes only each sentence's best length goes on (0 = all go on).
    #[serde(default)]
    pub prune_after: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub file: String,
    pub sha256: String,
}

/// Shape of the AR decoder's key/value cache: `[layers, batch, heads, positions, head_dim]`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArShape {
    pub layers: usize,
    pub heads: usize,
    pub head_dim: usize,
}

pub(crate) fn parse_init(s: &str) -> Result<Init> {
    match s {
        "mask" => Ok(Init::Mask),
        "random" => Ok(Init::Random),
        _ => Err(Error::invalid(format!(
            "unknown init {s:?} (expected \"mask\" or \"random\")"
        ))),
    }
}

pub(crate) fn parse_acceptance(s: &str) -> Result<Acceptance> {
    match s {
        "refine_all" => Ok(Acceptance::RefineAll),
        "mask_predict" => Ok(Acceptance::MaskPredict),
        _ => Err(Error::invalid(format!(
            "unknown acceptance rule {s:?} (expected \"refine_all\" or \"mask_predict\")"
        ))),
    }
}

impl Manifest {
    /// Read and check `dir/model.json`.
    pub fn load(dir: &Path) -> Result<Manifest> {
        let path = dir.join("model.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::model(format!("cannot read {}: {e}", path.display())))?;
        let m: Manifest = serde_json::from_str(&text)
            .map_err(|e| Error::model(format!("bad manifest {}: {e}", path.display())))?;
        m.validate().map_err(|e| {
            Error::model(format!("bad manifest {}: {}", path.display(), e.message()))
        })?;
        Ok(m)
    }

    fn validate(&self) -> Result<()> {
        if self.format_version != FORMAT_VERSION {
            return Err(Error::model(format!(
                "format_version {} is not supported (this runtime reads {FORMAT_VERSION})",
                self.format_version
            )));
        }
        for g in ["encoder", "length_predictor", "decoder"] {
            if !self.graphs.contains_key(g) {
                return Err(Error::model(format!("graph {g:?} is missing")));
            }
        }
        if self.graphs.contains_key("ar_decoder") != self.ar.is_some() {
            return Err(Error::model(
                "an AR decoder needs the \"ar\" cache shape, and vice versa",
            ));
        }
        if !matches!(self.length_predictor.kind.as_str(), "offset" | "absolute") {
            return Err(Error::model(format!(
                "unknown length_predictor.kind {:?}",
                self.length_predictor.kind
            )));
        }
        for (what, entry) in self
            .graphs
            .iter()
            .map(|(name, e)| (name.as_str(), e))
            .chain(std::iter::once(("tokenizer", &self.tokenizer)))
            .chain(self.shortlist.iter().map(|e| ("shortlist", e)))
        {
            if !is_inside(&entry.file) {
                return Err(Error::model(format!(
                    "{what} file {:?} is not a relative path inside the model directory",
                    entry.file
                )));
            }
        }
        let s = &self.special_tokens;
        let first_regular = self.first_regular();
        if first_regular >= self.vocab_size || [s.pad, s.eos, s.unk, s.mask].iter().any(|&t| t < 0)
        {
            return Err(Error::model(
                "special token ids must be small non-negative ids below vocab_size",
            ));
        }
        parse_init(&self.decode.init)?;
        parse_acceptance(&self.decode.acceptance)?;
        if self.decode.iterations == 0
            || self.decode.length_beam == 0
            || self.decode.top_lengths == 0
        {
            return Err(Error::model("decode defaults must be at least 1"));
        }
        Ok(())
    }

    fn first_regular(&self) -> i64 {
        let s = &self.special_tokens;
        [s.pad, s.eos, s.unk, s.mask].into_iter().max().unwrap_or(0) + 1
    }

    pub fn special(&self) -> SpecialTokens {
        SpecialTokens {
            pad: self.special_tokens.pad,
            eos: self.special_tokens.eos,
            mask: self.special_tokens.mask,
            first_regular: self.first_regular(),
            vocab_size: self.vocab_size,
        }
    }

    pub fn has_ar(&self) -> bool {
        self.ar.is_some()
    }

    /// Check every listed file against its sha256 (catches truncated or swapped files early).
    pub fn verify_files(&self, dir: &Path) -> Result<()> {
        for entry in self
            .graphs
            .values()
            .chain(std::iter::once(&self.tokenizer))
            .chain(self.shortlist.iter())
        {
            let path = dir.join(&entry.file);
            let digest = sha256_file(&path)?;
            if !digest.eq_ignore_ascii_case(&entry.sha256) {
                return Err(Error::model(format!(
                    "{} is corrupt or from another model: sha256 {digest}, manifest says {}",
                    path.display(),
                    entry.sha256
                )));
            }
        }
        Ok(())
    }
}

/// A file name that stays inside the model directory: relative, without `..` (a manifest
/// must not make padir open `../../etc/passwd`).
fn is_inside(file: &str) -> bool {
    let p = Path::new(file);
    !file.is_empty()
        && p.components().next().is_some()
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path)
        .map_err(|e| Error::model(format!("cannot open {}: {e}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| Error::model(format!("cannot read {}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
