//! `OnnxModel`: the graphs of a model directory, implementing the decode traits.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{s, Array2, Array3, Array5, ArrayD, Axis, Ix2, Ix3, Ix5};
use ort::session::SessionOutputs;
use ort::value::TensorRef;

use super::manifest::{ArShape, Manifest};
use super::runtime::{open_graph, Graph};
use super::shortlist::Shortlist;
use crate::decode::{ArChunkModel, ArModel, LengthScores, NarModel, Predictions, SpecialTokens};
use crate::error::{Error, Result};
use crate::options::TranslatorOptions;

/// Most decoder positions (rows x width) per run of the NAR decoder graph, which holds
/// `[rows, width, vocab]` logits: 4096 x 8000 floats are 131 MB per tensor. Bigger passes (batch
/// 32 x 3 length candidates x 256 positions would be 786 MB) run in slices of rows. The
/// reference decoder slices the same way (`MAX_DECODER_POSITIONS` in `reference.py`).
const MAX_DECODER_POSITIONS: usize = 4096;

/// The sessions of one model directory (the weights; per-call state lives in the decode loops).
pub struct OnnxModel {
    special: SpecialTokens,
    length_offset: Option<i64>,
    encoder: Graph,
    length_predictor: Graph,
    decoder: Graph,
    /// When the model has one, the decoder scores only each sentence's shortlist.
    shortlist: Option<Shortlist>,
    ar: Option<ArGraphs>,
}

struct ArGraphs {
    shape: ArShape,
    encoder: Graph,
    /// The decoder over `T` tokens after the cache: `T = 1` for a greedy step, the rest of a
    /// draft when draft-and-verify checks it.
    decoder: Graph,
}

/// NAR encoder output of a batch.
pub struct Encoded {
    hidden: Array3<f32>,
    mask: Array2<i64>,
    /// Each sentence's shortlist, padded (the decoder's `vocab` input), if the model has one.
    vocab: Option<Array2<i64>>,
}

/// AR state of the rows still decoding.
pub struct ArState {
    cross_k: Array5<f32>,
    cross_v: Array5<f32>,
    past_k: Array5<f32>,
    past_v: Array5<f32>,
    mask: Array2<i64>,
}

impl OnnxModel {
    pub fn load(dir: &Path, manifest: &Manifest, options: &TranslatorOptions) -> Result<Self> {
        let mut graphs = open_graphs(dir, manifest, options)?;
        let mut take = |name: &str| {
            graphs
                .remove(name)
                .ok_or_else(|| Error::model(format!("graph {name:?} is missing")))
        };
        let ar = match manifest.ar {
            Some(shape) => Some(ArGraphs {
                shape,
                encoder: take("ar_encoder")?,
                decoder: take("ar_decoder")?,
            }),
            None => None,
        };
        let lp = &manifest.length_predictor;
        let model = OnnxModel {
            special: manifest.special(),
            length_offset: (lp.kind == "offset").then_some(lp.min_offset),
            encoder: take("encoder")?,
            length_predictor: take("length_predictor")?,
            decoder: take("decoder")?,
            shortlist: match &manifest.shortlist {
                Some(entry) => Some(Shortlist::load(
                    &dir.join(&entry.file),
                    manifest.vocab_size,
                )?),
                None => None,
            },
            ar,
        };
        model.check_shapes(manifest)?;
        Ok(model)
    }

    /// The manifest must describe the graphs it lists: a length predictor with another number
    /// of classes, or an AR cache of another shape, would decode to garbage without an error.
    fn check_shapes(&self, manifest: &Manifest) -> Result<()> {
        // A decoder exported for a shortlist needs one, and only such a decoder takes one.
        if has_input(&self.decoder, "vocab")? != self.shortlist.is_some() {
            return Err(Error::model(match self.shortlist {
                Some(_) => "the manifest names a shortlist but the decoder graph takes none",
                None => "the decoder graph scores a shortlist but the manifest names none",
            }));
        }
        let classes = manifest.length_predictor.num_classes as i64;
        expect_dim(
            &self.length_predictor,
            "length_logprobs",
            1,
            classes,
            "length_predictor.num_classes",
        )?;
        if let Some(ar) = &self.ar {
            let s = ar.shape;
            for (axis, value, what) in [
                (0, s.layers, "ar.layers"),
                (2, s.heads, "ar.heads"),
                (4, s.head_dim, "ar.head_dim"),
            ] {
                expect_dim(&ar.encoder, "cross_k", axis, value as i64, what)?;
            }
        }
        Ok(())
    }

    pub fn has_ar(&self) -> bool {
        self.ar.is_some()
    }

    fn ar(&self) -> Result<&ArGraphs> {
        self.ar
            .as_ref()
            .ok_or_else(|| Error::invalid("this model ships no AR decoder"))
    }
}

/// The graphs this runtime runs (a manifest may list others: they are not opened).
const GRAPHS: [&str; 5] = [
    "encoder",
    "length_predictor",
    "decoder",
    "ar_encoder",
    "ar_decoder",
];

/// Open every graph of the manifest, each on its own thread: building a session (parsing,
/// graph optimisations, weight prepacking) is most of a model's load time, and the graphs do not
/// depend on each other. On error, the first failing graph in name order.
fn open_graphs(
    dir: &Path,
    manifest: &Manifest,
    options: &TranslatorOptions,
) -> Result<BTreeMap<String, Graph>> {
    let opened: Vec<(String, Result<Graph>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = manifest
            .graphs
            .iter()
            .filter(|(name, _)| GRAPHS.contains(&name.as_str()))
            .map(|(name, entry)| {
                let path = dir.join(&entry.file);
                (name, scope.spawn(move || open_graph(name, &path, options)))
            })
            .collect();
        handles
            .into_iter()
            .map(|(name, handle)| {
                let graph = handle.join().unwrap_or_else(|_| {
                    Err(Error::runtime(format!("loading graph {name:?} panicked")))
                });
                (name.clone(), graph)
            })
            .collect()
    });
    opened
        .into_iter()
        .map(|(name, graph)| graph.map(|g| (name, g)))
        .collect()
}

fn has_input(graph: &Graph, name: &str) -> Result<bool> {
    let session = graph
        .session
        .lock()
        .map_err(|_| Error::runtime("a graph lock was poisoned by a panic"))?;
    Ok(session.inputs().iter().any(|i| i.name() == name))
}

/// Fail when output `name` of `graph` has a fixed size on `axis` other than `expected`
/// (dynamic sizes cannot be checked before a run and pass).
fn expect_dim(graph: &Graph, name: &str, axis: usize, expected: i64, what: &str) -> Result<()> {
    let session = graph
        .session
        .lock()
        .map_err(|_| Error::runtime("a graph lock was poisoned by a panic"))?;
    let outlet = session
        .outputs()
        .iter()
        .find(|o| o.name() == name)
        .ok_or_else(|| Error::model(format!("graph {} has no output {name:?}", graph.name)))?;
    let actual = outlet
        .dtype()
        .tensor_shape()
        .and_then(|shape| shape.get(axis).copied());
    match actual {
        Some(n) if n >= 0 && n != expected => Err(Error::model(format!(
            "the manifest says {what} = {expected} but graph {} has {n} on axis {axis} of {name:?}",
            graph.name
        ))),
        _ => Ok(()),
    }
}

/// Right-pad token sequences into `[batch, width]` ids and mask.
fn pad(seqs: &[Vec<i64>], pad: i64) -> (Array2<i64>, Array2<i64>) {
    let width = seqs.iter().map(Vec::len).max().unwrap_or(1);
    let mut ids = Array2::from_elem((seqs.len(), width), pad);
    let mut mask = Array2::zeros((seqs.len(), width));
    for (r, seq) in seqs.iter().enumerate() {
        for (i, &t) in seq.iter().enumerate() {
            ids[[r, i]] = t;
            mask[[r, i]] = 1;
        }
    }
    (ids, mask)
}

/// Run a graph under its lock and copy out what `read` needs before releasing it.
fn run<T>(
    graph: &Graph,
    inputs: Vec<(&'static str, ort::session::SessionInputValue<'_>)>,
    read: impl FnOnce(&SessionOutputs<'_>) -> Result<T>,
) -> Result<T> {
    let mut session = graph
        .session
        .lock()
        .map_err(|_| Error::runtime("a graph lock was poisoned by a panic"))?;
    let outputs = session
        .run(inputs)
        .map_err(|e| Error::runtime(format!("graph {} failed: {e}", graph.name)))?;
    read(&outputs)
}

fn output<T: ort::value::PrimitiveTensorElementType + Clone>(
    outputs: &SessionOutputs<'_>,
    name: &str,
) -> Result<ArrayD<T>> {
    let value = outputs
        .get(name)
        .ok_or_else(|| Error::model(format!("graph has no output {name:?}")))?;
    Ok(value.try_extract_array::<T>()?.to_owned())
}

fn stack_rows<T: Clone>(parts: Vec<ndarray::ArrayView2<'_, T>>) -> Result<Array2<T>> {
    ndarray::concatenate(Axis(0), &parts).map_err(|e| Error::runtime(e.to_string()))
}

fn dims<T, D: ndarray::Dimension>(a: ArrayD<T>, name: &str) -> Result<ndarray::Array<T, D>> {
    a.into_dimensionality::<D>()
        .map_err(|_| Error::model(format!("output {name:?} has an unexpected rank")))
}

/// Borrows an array (owned or a view, e.g. a slice of rows) as a graph input without copying.
fn input<'a, T, D>(
    a: impl ndarray::AsArray<'a, T, D>,
) -> Result<ort::session::SessionInputValue<'a>>
where
    T: ort::value::PrimitiveTensorElementType + std::fmt::Debug + Clone + 'static,
    D: ndarray::Dimension + 'static,
{
    Ok(TensorRef::from_array_view(a.into())?.into())
}

impl NarModel for OnnxModel {
    type Memory = Encoded;

    fn special_tokens(&self) -> SpecialTokens {
        self.special
    }

    fn encode(&self, sources: &[Vec<i64>]) -> Result<Encoded> {
        let (ids, mask) = pad(sources, self.special.pad);
        let hidden = run(
            &self.encoder,
            vec![
                ("input_ids", input(&ids)?),
                ("attention_mask", input(&mask)?),
            ],
            |o| dims::<f32, Ix3>(output(o, "encoder_hidden")?, "encoder_hidden"),
        )?;
        // Padded with the vocabulary size, which the graph scores at -inf.
        let vocab = self.shortlist.as_ref().map(|sl| {
            let lists: Vec<Vec<i64>> = sources
                .iter()
                .map(|s| sl.for_source(s, self.special.eos))
                .collect();
            pad(&lists, self.special.vocab_size).0
        });
        Ok(Encoded {
            hidden,
            mask,
            vocab,
        })
    }

    fn predict_lengths(&self, m: &Encoded) -> Result<Vec<LengthScores>> {
        let lp = run(
            &self.length_predictor,
            vec![
                ("encoder_hidden", input(&m.hidden)?),
                ("attention_mask", input(&m.mask)?),
            ],
            |o| dims::<f32, Ix2>(output(o, "length_logprobs")?, "length_logprobs"),
        )?;
        Ok(lp
            .outer_iter()
            .zip(m.mask.outer_iter())
            .map(|(row, mask)| {
                // Source length without </s>.
                let src_len = mask.sum() - 1;
                LengthScores {
                    first_length: self.length_offset.map_or(0, |off| src_len + off),
                    logprobs: row.to_vec(),
                }
            })
            .collect())
    }

    fn refine(
        &self,
        m: &Encoded,
        sentences: &[usize],
        tokens: &Array2<i64>,
        mask: &Array2<i64>,
    ) -> Result<Predictions> {
        let rows_per_run = (MAX_DECODER_POSITIONS / tokens.ncols().max(1)).max(1);
        let mut parts = Vec::new();
        for start in (0..sentences.len()).step_by(rows_per_run) {
            let end = (start + rows_per_run).min(sentences.len());
            let rows = &sentences[start..end];
            let hidden = m.hidden.select(Axis(0), rows);
            let enc_mask = m.mask.select(Axis(0), rows);
            let vocab = m.vocab.as_ref().map(|v| v.select(Axis(0), rows));
            // A range of rows of a standard-layout array is contiguous: passed without a copy.
            let mut inputs = vec![
                (
                    "decoder_input_ids",
                    input(tokens.slice(s![start..end, ..]))?,
                ),
                (
                    "decoder_attention_mask",
                    input(mask.slice(s![start..end, ..]))?,
                ),
                ("encoder_hidden", input(&hidden)?),
                ("encoder_attention_mask", input(&enc_mask)?),
            ];
            if let Some(vocab) = &vocab {
                inputs.push(("vocab", input(vocab)?));
            }
            parts.push(run(&self.decoder, inputs, |o| {
                Ok(Predictions {
                    tokens: dims::<i64, Ix2>(output(o, "token_ids")?, "token_ids")?,
                    logprobs: dims::<f32, Ix2>(output(o, "token_logprobs")?, "token_logprobs")?,
                })
            })?);
        }
        if parts.len() == 1 {
            return Ok(parts.remove(0));
        }
        Ok(Predictions {
            tokens: stack_rows(parts.iter().map(|p| p.tokens.view()).collect())?,
            logprobs: stack_rows(parts.iter().map(|p| p.logprobs.view()).collect())?,
        })
    }
}

/// Run the AR decoder on `input_ids [B,T]` after the cache of `st`, which it replaces with the
/// grown one; the best next token and its log-prob per position, `[B,T]` each.
fn run_cached(
    graph: &Graph,
    st: &mut ArState,
    input_ids: &Array2<i64>,
) -> Result<(Array2<i64>, Array2<f32>)> {
    let inputs = vec![
        ("input_ids", input(input_ids)?),
        ("past_k", input(&st.past_k)?),
        ("past_v", input(&st.past_v)?),
        ("cross_k", input(&st.cross_k)?),
        ("cross_v", input(&st.cross_v)?),
        ("encoder_attention_mask", input(&st.mask)?),
    ];
    let (tokens, logprobs, k, v) = run(graph, inputs, |o| {
        Ok((
            dims::<i64, Ix2>(output(o, "token_ids")?, "token_ids")?,
            dims::<f32, Ix2>(output(o, "token_logprobs")?, "token_logprobs")?,
            dims::<f32, Ix5>(output(o, "present_k")?, "present_k")?,
            dims::<f32, Ix5>(output(o, "present_v")?, "present_v")?,
        ))
    })?;
    st.past_k = k;
    st.past_v = v;
    Ok((tokens, logprobs))
}

impl ArModel for OnnxModel {
    type State = ArState;

    fn special_tokens(&self) -> SpecialTokens {
        self.special
    }

    fn start(&self, sources: &[Vec<i64>]) -> Result<ArState> {
        let ar = self.ar()?;
        let (ids, mask) = pad(sources, self.special.pad);
        let (cross_k, cross_v) = run(
            &ar.encoder,
            vec![
                ("input_ids", input(&ids)?),
                ("attention_mask", input(&mask)?),
            ],
            |o| {
                Ok((
                    dims::<f32, Ix5>(output(o, "cross_k")?, "cross_k")?,
                    dims::<f32, Ix5>(output(o, "cross_v")?, "cross_v")?,
                ))
            },
        )?;
        let empty = Array5::zeros((
            ar.shape.layers,
            sources.len(),
            ar.shape.heads,
            0,
            ar.shape.head_dim,
        ));
        Ok(ArState {
            cross_k,
            cross_v,
            past_k: empty.clone(),
            past_v: empty,
            mask,
        })
    }

    fn step(&self, st: &mut ArState, previous: &[i64]) -> Result<(Vec<i64>, Vec<f32>)> {
        let ar = self.ar()?;
        let prev = Array2::from_shape_vec((previous.len(), 1), previous.to_vec())
            .map_err(|e| Error::runtime(e.to_string()))?;
        let (tokens, logprobs) = run_cached(&ar.decoder, st, &prev)?;
        Ok((tokens.column(0).to_vec(), logprobs.column(0).to_vec()))
    }

    fn retain(&self, st: &mut ArState, rows: &[usize]) -> Result<()> {
        // `select` on an inner axis may return a non-standard layout; ONNX Runtime needs C order.
        let keep = |a: &Array5<f32>| a.select(Axis(1), rows).as_standard_layout().into_owned();
        st.cross_k = keep(&st.cross_k);
        st.cross_v = keep(&st.cross_v);
        st.past_k = keep(&st.past_k);
        st.past_v = keep(&st.past_v);
        st.mask = st.mask.select(Axis(0), rows);
        Ok(())
    }
}

impl ArChunkModel for OnnxModel {
    fn check(&self, st: &mut ArState, tokens: &[i64]) -> Result<(Vec<i64>, Vec<f32>)> {
        let ar = self.ar()?;
        if st.past_k.dim().1 != 1 {
            return Err(Error::runtime(
                "draft verification runs one sentence at a time",
            ));
        }
        let ids = Array2::from_shape_vec((1, tokens.len()), tokens.to_vec())
            .map_err(|e| Error::runtime(e.to_string()))?;
        let (best, logprobs) = run_cached(&ar.decoder, st, &ids)?;
        Ok((best.row(0).to_vec(), logprobs.row(0).to_vec()))
    }

    fn truncate(&self, st: &mut ArState, len: usize) -> Result<()> {
        let cached = st.past_k.dim().3;
        if len > cached {
            return Err(Error::runtime("cannot grow the AR cache by truncating it"));
        }
        if len == cached {
            return Ok(()); // the whole draft was kept: no copy
        }
        let cut = |a: &Array5<f32>| {
            a.slice(s![.., .., .., ..len, ..])
                .as_standard_layout()
                .into_owned()
        };
        st.past_k = cut(&st.past_k);
        st.past_v = cut(&st.past_v);
        Ok(())
    }
}
