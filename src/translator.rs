//! The public entry point: load a model directory once, translate batches of text.

use std::path::{Path, PathBuf};

use tokenizers::Tokenizer;

use crate::decode::{decode_ar, decode_nar, decode_verify, Hypothesis, NarParams};
use crate::error::{Error, Result};
use crate::model::{parse_acceptance, parse_init, Manifest, OnnxModel};
use crate::options::{DecodeOptions, Mode, NarOptions, TranslatorOptions, VERIFY_DRAFT};
use crate::text::protect::{self, protect, repair, restore, Protected};
use crate::text::sentences::{split_for_model, Split};

/// Upper bounds on decode options: beyond them a request is a mistake, not a setting.
const MAX_ITERATIONS: usize = 64;
const MAX_LENGTH_BEAM: usize = 16;
const MAX_TOP_LENGTHS: usize = 8;
const MAX_BATCH_SIZE: usize = 4096;

/// One translated text.
#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    pub text: String,
    /// Target token ids (without `</s>`).
    pub ids: Vec<u32>,
    /// Mean log-probability of the output tokens (higher is more confident).
    pub score: f32,
    /// Target length chosen (NAR) or produced (AR), in tokens.
    pub length: usize,
    /// Decoder passes run for this text (NAR: refinement iterations; AR: steps; verify:
    /// teacher passes, not counting the draft's).
    pub iterations: usize,
    /// The PaDIR output lost or added a protected span, so this text was decoded again with the
    /// AR model (whose output this is).
    pub fallback: bool,
    /// No decoding kept every protected span: they were put back by [`repair`] (each span as
    /// often as in the source, missing ones appended).
    pub repaired: bool,
    /// An output ran into the length limit (`max_length`): its end may be missing.
    pub truncated: bool,
    /// Pieces translated: the text's sentences (with `DecodeOptions::sentences`), 1 otherwise.
    pub sentences: usize,
    /// A sentence was longer than the model reads and was cut into parts (at clause
    /// punctuation, else between words) before translation.
    pub split: bool,
}

/// A loaded model: tokenizer, graphs and manifest. Cheap to share: wrap it in an `Arc` and call
/// [`Translator::translate`] from as many threads as you like.
///
/// Concurrency: each graph has one ONNX Runtime session behind a lock (`ort` runs take
/// `&mut Session`). Concurrent calls overlap at graph granularity (one thread encodes while
/// another refines) and the weights are in memory once. A pool of sessions per graph would let
/// calls run the same graph at the same time, but multiplies memory by the pool size while the
/// calls compete for the same cores that ONNX Runtime's intra-op threads already use; on the
/// laptops and phones padir targets, larger batches are the better way to more throughput.
pub struct Translator {
    dir: PathBuf,
    manifest: Manifest,
    tokenizer: Tokenizer,
    /// Most input bytes that `max_source_len` tokens can cover (see `source_byte_limit`).
    max_source_bytes: usize,
    /// The vocabulary has the placeholder tokens, so text can be protected.
    placeholders: bool,
    model: OnnxModel,
}

/// An upper bound on the input bytes `max_tokens` tokens can cover: the longest vocabulary
/// entry, in UTF-8 bytes, times `max_tokens`. A longer text cannot fit whatever it holds, so it
/// is refused before the tokenizer sees it (tokenizing one 8 MB line took 1.1 GB). A
/// vocabulary string is never shorter than the input it stands for with byte-level BPE ("Ġ" is
/// two bytes for one space), SentencePiece and WordPiece, so nothing that fits is refused.
fn source_byte_limit(tokenizer: &Tokenizer, max_tokens: usize) -> usize {
    let longest = tokenizer
        .get_vocab(true)
        .keys()
        .map(String::len)
        .max()
        .unwrap_or(1);
    longest.max(1).saturating_mul(max_tokens)
}

impl Translator {
    /// Load the model in `dir` (a folder with `model.json`, its graphs and tokenizer).
    ///
    /// ```
    /// use padir::{DecodeOptions, Translator, TranslatorOptions};
    /// let t = Translator::load("onnx/tiny", &TranslatorOptions::default())?;
    /// let out = t.translate(&["Save the file before closing. Then quit."], &DecodeOptions::nar())?;
    /// assert_eq!(out[0].sentences, 2);
    /// println!("{}", out[0].text);
    /// # Ok::<(), padir::Error>(())
    /// ```
    pub fn load(dir: impl AsRef<Path>, options: &TranslatorOptions) -> Result<Translator> {
        options.check()?;
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(Error::model(format!(
                "model directory {} does not exist",
                dir.display()
            )));
        }
        let manifest = Manifest::load(dir)?;
        if options.verify_checksums {
            manifest.verify_files(dir)?;
        }
        let tok_path = dir.join(&manifest.tokenizer.file);
        let tokenizer = Tokenizer::from_file(&tok_path).map_err(|e| {
            Error::model(format!("cannot load tokenizer {}: {e}", tok_path.display()))
        })?;
        let vocab = tokenizer.get_vocab_size(true) as i64;
        if vocab != manifest.vocab_size {
            return Err(Error::model(format!(
                "tokenizer has {vocab} pieces but the manifest says vocab_size {}",
                manifest.vocab_size
            )));
        }
        let model = OnnxModel::load(dir, &manifest, options)?;
        let max_source_bytes = source_byte_limit(&tokenizer, manifest.max_source_len);
        let placeholders = protect::tokens()
            .iter()
            .all(|t| tokenizer.token_to_id(t).is_some());
        Ok(Translator {
            dir: dir.to_path_buf(),
            manifest,
            tokenizer,
            max_source_bytes,
            placeholders,
            model,
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn model_dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the model ships the AR teacher graphs (`Mode::Ar` and `Mode::Verify`).
    pub fn has_ar(&self) -> bool {
        self.model.has_ar()
    }

    /// Whether the model's vocabulary has placeholder tokens (`DecodeOptions::protect` applies).
    pub fn protects(&self) -> bool {
        self.placeholders
    }

    /// Translate `texts`, in order. Empty (or all-whitespace) texts give empty translations.
    /// With `options.protect` (the default) and a model with placeholder tokens, protected
    /// spans come back exactly as often as in the source (see [`Translation::fallback`]).
    pub fn translate<S: AsRef<str>>(
        &self,
        texts: &[S],
        options: &DecodeOptions,
    ) -> Result<Vec<Translation>> {
        if !options.sentences {
            return self.translate_protected(texts, options);
        }
        // Each text in the pieces the model reads (sentences, cut further where too long); all
        // pieces of all texts are translated together, so batches stay full.
        let fits = |s: &str| self.check_source(s).is_ok();
        let layouts: Vec<(Split, bool)> = texts
            .iter()
            .map(|t| split_for_model(t.as_ref(), &fits))
            .collect();
        let pieces: Vec<&str> = layouts
            .iter()
            .flat_map(|(split, _)| split.pieces.iter().map(String::as_str))
            .collect();
        let mut done = self.translate_protected(&pieces, options)?.into_iter();
        Ok(layouts
            .iter()
            .map(|(split, cut)| {
                let parts: Vec<Translation> = done.by_ref().take(split.pieces.len()).collect();
                let texts: Vec<&str> = parts.iter().map(|t| t.text.as_str()).collect();
                let length: usize = parts.iter().map(|t| t.length).sum();
                Translation {
                    // A blank text has no pieces and translates to nothing, spaces included.
                    text: if parts.is_empty() {
                        String::new()
                    } else {
                        split.join(&texts)
                    },
                    ids: parts.iter().flat_map(|t| t.ids.iter().copied()).collect(),
                    // Mean over the tokens of all pieces, as for one sentence.
                    score: if length == 0 {
                        0.0
                    } else {
                        (parts
                            .iter()
                            .map(|t| t.score as f64 * t.length as f64)
                            .sum::<f64>()
                            / length as f64) as f32
                    },
                    length,
                    iterations: parts.iter().map(|t| t.iterations).max().unwrap_or(0),
                    fallback: parts.iter().any(|t| t.fallback),
                    repaired: parts.iter().any(|t| t.repaired),
                    truncated: parts.iter().any(|t| t.truncated),
                    sentences: parts.len(),
                    split: *cut,
                }
            })
            .collect())
    }

    /// Translate each text as one piece, with placeholder protection where it applies.
    fn translate_protected<S: AsRef<str>>(
        &self,
        texts: &[S],
        options: &DecodeOptions,
    ) -> Result<Vec<Translation>> {
        if !(options.protect && self.placeholders) {
            return self.translate_plain(texts, options);
        }
        let protected: Vec<Protected> = texts.iter().map(|t| protect(t.as_ref())).collect();
        let inputs: Vec<&str> = protected.iter().map(|p| p.text.as_str()).collect();
        let mut out = self.translate_plain(&inputs, options)?;
        let mut lost = Vec::new();
        for (i, (t, p)) in out.iter_mut().zip(&protected).enumerate() {
            let r = restore(&t.text, p);
            if r.faithful {
                t.text = r.text;
            } else {
                lost.push(i);
            }
        }
        // A PaDIR output that lost a span is decoded again with the AR model, if there is one.
        let again = match options.mode {
            Mode::Nar(_) if self.model.has_ar() && !lost.is_empty() => {
                let retry: Vec<&str> = lost.iter().map(|&i| inputs[i]).collect();
                let ar = DecodeOptions {
                    mode: Mode::Ar,
                    ..options.clone()
                };
                Some(self.translate_plain(&retry, &ar)?)
            }
            _ => None,
        };
        for (k, &i) in lost.iter().enumerate() {
            if let Some(again) = &again {
                out[i] = again[k].clone();
                out[i].fallback = true;
            }
            let r = restore(&out[i].text, &protected[i]);
            out[i].text = if r.faithful {
                r.text
            } else {
                out[i].repaired = true;
                repair(&out[i].text, &protected[i])
            };
        }
        Ok(out)
    }

    /// Translate without placeholder protection.
    fn translate_plain<S: AsRef<str>>(
        &self,
        texts: &[S],
        options: &DecodeOptions,
    ) -> Result<Vec<Translation>> {
        let max_length = self.max_length(options)?;
        let plan = match &options.mode {
            Mode::Nar(o) => Plan::Nar(self.nar_params(o, max_length)?),
            Mode::Ar | Mode::Verify(_) if !self.model.has_ar() => {
                return Err(Error::invalid(format!(
                    "model {} ships no AR decoder, which {} mode needs",
                    self.manifest.name,
                    if options.mode == Mode::Ar {
                        "AR"
                    } else {
                        "verify"
                    }
                )))
            }
            Mode::Ar => Plan::Ar,
            Mode::Verify(o) => Plan::Verify(self.nar_params(&o.or(&VERIFY_DRAFT), max_length)?),
        };
        if options.batch_size == 0 || options.batch_size > MAX_BATCH_SIZE {
            return Err(Error::invalid(format!(
                "batch size must be in 1..={MAX_BATCH_SIZE}"
            )));
        }
        let sources = self.encode(texts)?;
        // Batch sentences of similar length together (stable, so ties keep their order): a
        // batch is as wide as its longest sentence, and the NAR decoder as wide as its longest
        // target, so mixed lengths waste most of a batch on padding. Results go back in order.
        let mut work: Vec<usize> = (0..texts.len())
            .filter(|&i| !sources[i].is_empty())
            .collect();
        work.sort_by_key(|&i| sources[i].len());
        let mut out = vec![
            Translation {
                text: String::new(),
                ids: Vec::new(),
                score: 0.0,
                length: 0,
                iterations: 0,
                fallback: false,
                repaired: false,
                truncated: false,
                sentences: 0,
                split: false,
            };
            texts.len()
        ];
        for chunk in work.chunks(options.batch_size) {
            let batch: Vec<Vec<i64>> = chunk.iter().map(|&i| sources[i].clone()).collect();
            let hyps = match &plan {
                Plan::Nar(p) => decode_nar(&self.model, &batch, p)?,
                Plan::Ar => decode_ar(&self.model, &batch, max_length)?,
                Plan::Verify(draft) => decode_verify(&self.model, &batch, draft, max_length)?,
            };
            for (&i, h) in chunk.iter().zip(hyps) {
                out[i] = self.finish(h, max_length)?;
            }
        }
        Ok(out)
    }

    /// Whether the model can read `text`: an error saying why not (too many tokens) otherwise.
    /// Lets a caller set aside one unreadable input instead of failing a whole batch.
    pub fn check_source(&self, text: &str) -> Result<()> {
        self.source_ids(text).map(|_| ())
    }

    /// Token ids of `text` (ending in `</s>`), or an error when the model cannot read that many.
    fn source_ids(&self, text: &str) -> Result<Vec<i64>> {
        let max = self.manifest.max_source_len;
        if text.len() > self.max_source_bytes {
            return Err(Error::invalid(format!(
                "has {} bytes, more than {max} tokens can hold (split long texts into sentences)",
                text.len()
            )));
        }
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| Error::invalid(format!("cannot be tokenized: {e}")))?;
        if enc.get_ids().len() > max {
            return Err(Error::invalid(format!(
                "has {} tokens; this model reads at most {max} (split long texts into sentences)",
                enc.get_ids().len()
            )));
        }
        Ok(enc.get_ids().iter().map(|&x| x as i64).collect())
    }

    /// Token ids of each text (ending in `</s>`); empty for an empty text.
    fn encode<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<i64>>> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let t = t.as_ref();
                if t.trim().is_empty() {
                    return Ok(Vec::new());
                }
                self.source_ids(t)
                    .map_err(|e| Error::invalid(format!("input {i} {}", e.message())))
            })
            .collect()
    }

    fn finish(&self, h: Hypothesis, max_length: usize) -> Result<Translation> {
        let ids: Vec<u32> = h.tokens.iter().map(|&t| t as u32).collect();
        let text = self
            .tokenizer
            .decode(&ids, true)
            .map_err(|e| Error::runtime(format!("cannot detokenize: {e}")))?;
        Ok(Translation {
            text,
            ids,
            score: h.score,
            length: h.length,
            iterations: h.iterations,
            fallback: false,
            repaired: false,
            // AR stopped by the limit, or a NAR length clamped to it.
            truncated: h.length >= max_length,
            sentences: 1,
            split: false,
        })
    }

    fn max_length(&self, options: &DecodeOptions) -> Result<usize> {
        let limit = self.manifest.max_target_len;
        match options.max_length {
            None => Ok(limit),
            Some(n) if (1..=limit).contains(&n) => Ok(n),
            Some(n) => Err(Error::invalid(format!(
                "max length {n} is outside 1..={limit}"
            ))),
        }
    }

    /// NAR settings with the manifest's defaults filled in, checked.
    pub fn nar_params(&self, o: &NarOptions, max_length: usize) -> Result<NarParams> {
        let d = &self.manifest.decode;
        let p = NarParams {
            iterations: o.iterations.unwrap_or(d.iterations),
            length_beam: o.length_beam.unwrap_or(d.length_beam),
            top_lengths: o.top_lengths.unwrap_or(d.top_lengths),
            init: match o.init {
                Some(i) => i,
                None => parse_init(&d.init)?,
            },
            acceptance: match o.acceptance {
                Some(a) => a,
                None => parse_acceptance(&d.acceptance)?,
            },
            remask_stutter: o.remask_stutter.unwrap_or(d.remask_stutter),
            seed: o.seed.unwrap_or(d.seed),
            max_length,
            prune_after: o.prune_after.unwrap_or(d.prune_after),
        };
        check_range("iterations", p.iterations, MAX_ITERATIONS)?;
        check_range("length beam", p.length_beam, MAX_LENGTH_BEAM)?;
        check_range("top lengths", p.top_lengths, MAX_TOP_LENGTHS)?;
        if p.prune_after > MAX_ITERATIONS {
            return Err(Error::invalid(format!(
                "prune after {} passes is outside 0..={MAX_ITERATIONS}",
                p.prune_after
            )));
        }
        Ok(p)
    }
}

/// A decoding mode with its settings resolved against the manifest.
enum Plan {
    Nar(NarParams),
    Ar,
    Verify(NarParams),
}

fn check_range(what: &str, v: usize, max: usize) -> Result<()> {
    if (1..=max).contains(&v) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{what} must be in 1..={max}, got {v}"
        )))
    }
}
