//! PaDIR's parallel decoding by iterative refinement.

use ndarray::Array2;

use super::rng::random_tokens;
use super::{mean, Acceptance, Hypothesis, Init, LengthScores, NarModel, NarParams, SpecialTokens};
use crate::error::{Error, Result};

/// One length candidate of one sentence: a row of the decoder batch.
struct Row {
    sentence: usize,
    init: Vec<i64>,
    tokens: Vec<i64>,
    confidence: Vec<f32>,
    iterations: usize,
    done: bool,
    /// Dropped by `prune_after`: no longer refined nor chosen (its passes still count).
    pruned: bool,
}

/// Candidate target lengths of one sentence: the `top_lengths` most likely lengths (ties: the
/// shorter first), each widened to `length_beam` neighbours, clamped to `1..=max_length`,
/// without duplicates, in that order.
pub(crate) fn candidate_lengths(scores: &LengthScores, p: &NarParams) -> Vec<usize> {
    let mut classes: Vec<usize> = (0..scores.logprobs.len()).collect();
    // Stable sort by descending log-prob keeps lower classes first among ties.
    classes.sort_by(|&a, &b| cmp_f32(scores.logprobs[b], scores.logprobs[a]));
    let mut out = Vec::new();
    for &c in classes.iter().take(p.top_lengths) {
        let base = scores.first_length + c as i64;
        for i in 0..p.length_beam as i64 {
            let n = (base + i - (p.length_beam / 2) as i64).clamp(1, p.max_length as i64) as usize;
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

/// Float order as Python's `sorted` sees it (-0.0 == 0.0), so tie-breaking agrees exactly.
fn cmp_f32(a: f32, b: f32) -> std::cmp::Ordering {
    a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal)
}

/// Translate a batch of tokenised sentences (each ending in `</s>`, none empty).
pub fn decode_nar<M: NarModel>(
    model: &M,
    sources: &[Vec<i64>],
    p: &NarParams,
) -> Result<Vec<Hypothesis>> {
    let sp = model.special_tokens();
    let memory = model.encode(sources)?;
    let lengths = model.predict_lengths(&memory)?;
    if lengths.len() != sources.len() || lengths.iter().any(|l| l.logprobs.is_empty()) {
        return Err(Error::runtime(
            "the length predictor returned no length distribution for some sentence",
        ));
    }
    let mut rows = Vec::new();
    for (sentence, scores) in lengths.iter().enumerate() {
        for n in candidate_lengths(scores, p) {
            let init = match p.init {
                Init::Mask => vec![sp.mask; n],
                Init::Random => random_tokens(p.seed, n, sp.first_regular, sp.vocab_size),
            };
            rows.push(Row {
                sentence,
                tokens: init.clone(),
                init,
                confidence: vec![0.0; n],
                iterations: 0,
                done: false,
                pruned: false,
            });
        }
    }
    for t in 0..p.iterations {
        let active: Vec<usize> = (0..rows.len()).filter(|&r| !rows[r].done).collect();
        if active.is_empty() {
            break;
        }
        let (tokens, mask) = decoder_batch(&rows, &active, &sp);
        let sentences: Vec<usize> = active.iter().map(|&r| rows[r].sentence).collect();
        let pred = model.refine(&memory, &sentences, &tokens, &mask)?;
        if pred.tokens.dim() != tokens.dim() || pred.logprobs.dim() != tokens.dim() {
            return Err(Error::runtime(format!(
                "the decoder answered {:?} / {:?} for a {:?} batch",
                pred.tokens.dim(),
                pred.logprobs.dim(),
                tokens.dim()
            )));
        }
        for (k, &r) in active.iter().enumerate() {
            let row = &mut rows[r];
            let n = row.tokens.len();
            let new_tokens: Vec<i64> = pred.tokens.row(k).iter().take(n).copied().collect();
            let new_lp: Vec<f32> = pred.logprobs.row(k).iter().take(n).copied().collect();
            refine_row(row, &new_tokens, &new_lp, t, p, &sp);
        }
        if t + 1 == p.prune_after {
            prune_to_best(&mut rows, sources.len());
        }
    }
    Ok((0..sources.len())
        .filter_map(|s| best_of(&rows, s, p.remask_stutter))
        .collect())
}

/// Keep only each sentence's best-scoring row; the others are neither refined nor chosen any
/// more.
fn prune_to_best(rows: &mut [Row], sentences: usize) {
    for s in 0..sentences {
        let Some((keep, _)) = best_row(rows, s) else {
            continue;
        };
        for (r, row) in rows.iter_mut().enumerate() {
            if row.sentence == s && r != keep {
                row.pruned = true;
                row.done = true;
            }
        }
    }
}

/// Sentence `s`'s best-scoring row not pruned (ties: the first), with its score.
fn best_row(rows: &[Row], s: usize) -> Option<(usize, f64)> {
    let mut best: Option<(usize, f64)> = None;
    for (r, row) in rows.iter().enumerate() {
        if row.sentence != s || row.pruned {
            continue;
        }
        let score = mean(&row.confidence);
        if best.is_none_or(|(_, b)| score > b) {
            best = Some((r, score));
        }
    }
    best
}

/// `[rows, width]` decoder input: each row's tokens, `</s>`, then padding.
fn decoder_batch(rows: &[Row], active: &[usize], sp: &SpecialTokens) -> (Array2<i64>, Array2<i64>) {
    let width = active
        .iter()
        .map(|&r| rows[r].tokens.len() + 1)
        .max()
        .unwrap_or(1);
    let mut tokens = Array2::from_elem((active.len(), width), sp.pad);
    let mut mask = Array2::zeros((active.len(), width));
    for (k, &r) in active.iter().enumerate() {
        let row = &rows[r].tokens;
        for (i, &tok) in row.iter().chain(std::iter::once(&sp.eos)).enumerate() {
            tokens[[k, i]] = tok;
            mask[[k, i]] = 1;
        }
    }
    (tokens, mask)
}

/// Apply one iteration's predictions to a row (acceptance rule, stutter, re-masking).
fn refine_row(
    row: &mut Row,
    pred: &[i64],
    lp: &[f32],
    t: usize,
    p: &NarParams,
    sp: &SpecialTokens,
) {
    let n = row.tokens.len();
    let old = row.tokens.clone();
    let accepted: Vec<bool> = (0..n)
        .map(|i| t == 0 || p.acceptance == Acceptance::RefineAll || old[i] == sp.mask)
        .collect();
    for i in 0..n {
        if accepted[i] {
            row.tokens[i] = pred[i];
            row.confidence[i] = lp[i];
        }
    }
    if p.remask_stutter {
        let stutter: Vec<usize> = (1..n)
            .filter(|&i| accepted[i] && row.tokens[i] == row.tokens[i - 1])
            .collect();
        for i in stutter {
            row.tokens[i] = old[i];
        }
    }
    if p.acceptance == Acceptance::MaskPredict && t + 1 < p.iterations {
        let remask = n * (p.iterations - 1 - t) / p.iterations;
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| cmp_f32(row.confidence[a], row.confidence[b]));
        for &i in order.iter().take(remask) {
            row.tokens[i] = sp.mask;
        }
    }
    row.iterations += 1;
    row.done = row.tokens == old;
}

/// The best-scoring candidate of sentence `s` (ties: the first), without leftover initial tokens.
/// With `remask_stutter`, a token equal to the token kept before it is dropped too: dropping a
/// leftover `<mask>` between two equal tokens, or reverting a stutter to a token its (changed)
/// left neighbour now equals, can leave a repeat that the rule exists to reject.
fn best_of(rows: &[Row], s: usize, remask_stutter: bool) -> Option<Hypothesis> {
    let (best, score) = best_row(rows, s)?;
    let row = &rows[best];
    // Passes run for the sentence, pruned rows included.
    let iterations = rows
        .iter()
        .filter(|r| r.sentence == s)
        .map(|r| r.iterations)
        .max()
        .unwrap_or(0);
    let mut tokens: Vec<i64> = Vec::with_capacity(row.tokens.len());
    for (&t, &t0) in row.tokens.iter().zip(&row.init) {
        if t != t0 && !(remask_stutter && tokens.last() == Some(&t)) {
            tokens.push(t);
        }
    }
    Some(Hypothesis {
        tokens,
        score: score as f32,
        length: row.tokens.len(),
        iterations,
    })
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::decode::test_support::{nar_params, SP};
    use crate::decode::Predictions;

    /// A scripted model: lengths are given per sentence; each decoder pass answers with the
    /// next scripted function of (row length, position, input token) and records its inputs.
    /// Answer of one scripted pass for (row length, position, input token).
    type Pass = Box<dyn Fn(usize, usize, i64) -> (i64, f32)>;
    /// What one decoder call received: sentence of each row, tokens, mask.
    type Call = (Vec<usize>, Array2<i64>, Array2<i64>);

    struct FakeModel {
        lengths: Vec<LengthScores>,
        passes: Vec<Pass>,
        seen: RefCell<Vec<Call>>,
    }

    impl FakeModel {
        fn new(lengths: Vec<LengthScores>) -> Self {
            FakeModel {
                lengths,
                passes: Vec::new(),
                seen: RefCell::new(Vec::new()),
            }
        }
        fn pass(mut self, f: impl Fn(usize, usize, i64) -> (i64, f32) + 'static) -> Self {
            self.passes.push(Box::new(f));
            self
        }
    }

    impl NarModel for FakeModel {
        type Memory = ();
        fn special_tokens(&self) -> SpecialTokens {
            SP
        }
        fn encode(&self, sources: &[Vec<i64>]) -> Result<()> {
            assert_eq!(sources.len(), self.lengths.len());
            Ok(())
        }
        fn predict_lengths(&self, _: &()) -> Result<Vec<LengthScores>> {
            Ok(self.lengths.clone())
        }
        fn refine(
            &self,
            _: &(),
            sentences: &[usize],
            tokens: &Array2<i64>,
            mask: &Array2<i64>,
        ) -> Result<Predictions> {
            let call = self.seen.borrow().len();
            let f = &self.passes[call.min(self.passes.len() - 1)];
            let mut out_t = Array2::zeros(tokens.raw_dim());
            let mut out_l = Array2::zeros(tokens.raw_dim());
            for r in 0..tokens.nrows() {
                let len = mask.row(r).sum() as usize - 1;
                for i in 0..tokens.ncols() {
                    let (t, l) = if i < len {
                        f(len, i, tokens[[r, i]])
                    } else {
                        (99, -9.0)
                    };
                    out_t[[r, i]] = t;
                    out_l[[r, i]] = l;
                }
            }
            self.seen
                .borrow_mut()
                .push((sentences.to_vec(), tokens.clone(), mask.clone()));
            Ok(Predictions {
                tokens: out_t,
                logprobs: out_l,
            })
        }
    }

    /// Length scores peaking at `len` over lengths 1..=8.
    fn peak(len: usize) -> LengthScores {
        LengthScores {
            first_length: 1,
            logprobs: (1..=8)
                .map(|l| if l == len { -0.1 } else { -5.0 - l as f32 })
                .collect(),
        }
    }

    #[test]
    fn candidate_lengths_widen_clamp_and_dedupe() {
        let scores = LengthScores {
            first_length: -2,
            logprobs: vec![-1.0, -0.5, -0.5, -3.0],
        };
        let mut p = nar_params(1, 3);
        // Best class 1 (length -1), then class 2 (length 0, a tie broken by class): both clamp to 1.
        p.top_lengths = 2;
        assert_eq!(candidate_lengths(&scores, &p), vec![1]);
        let scores = LengthScores {
            first_length: 1,
            ..scores
        };
        p.length_beam = 4;
        p.max_length = 3;
        // Lengths 2 and 3, each widened by -2..=1, clamped to 1..=3.
        assert_eq!(candidate_lengths(&scores, &p), vec![1, 2, 3]);
        assert_eq!(
            candidate_lengths(&peak(5), &nar_params(1, 3)),
            vec![4, 5, 6]
        );
        assert_eq!(candidate_lengths(&peak(5), &nar_params(1, 2)), vec![4, 5]);
    }

    #[test]
    fn early_exit_when_an_iteration_changes_nothing() {
        // Every pass predicts 10 + position: the second pass changes nothing.
        let m = FakeModel::new(vec![peak(3)]).pass(|_, i, _| (10 + i as i64, -0.5));
        let out = decode_nar(&m, &[vec![5, 1]], &nar_params(8, 1)).unwrap();
        assert_eq!(out[0].tokens, vec![10, 11, 12]);
        assert_eq!(out[0].iterations, 2);
        assert_eq!(m.seen.borrow().len(), 2);
        assert!((out[0].score + 0.5).abs() < 1e-6);
    }

    #[test]
    fn finished_rows_leave_the_batch() {
        // Sentence 0 (length 2) converges at once; sentence 1 (length 4) keeps changing.
        let m = FakeModel::new(vec![peak(2), peak(4)])
            .pass(|_, i, _| (20 + i as i64, -1.0))
            .pass(|len, _, t| if len == 2 { (t, -1.0) } else { (t + 1, -1.0) })
            .pass(|len, i, t| {
                if len == 2 {
                    (t, -1.0)
                } else {
                    (t + 1, -1.0 - i as f32)
                }
            });
        let out = decode_nar(&m, &[vec![5, 1], vec![6, 1]], &nar_params(4, 1)).unwrap();
        let seen = m.seen.borrow();
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[0].0, vec![0, 1]);
        assert_eq!(seen[2].0, vec![1]);
        assert_eq!(
            seen[2].1.ncols(),
            5,
            "batch shrinks to the longest active row"
        );
        assert_eq!(out[0].iterations, 2);
        assert_eq!(out[1].iterations, 4);
        assert_eq!(out[1].tokens, vec![23, 24, 25, 26]);
    }

    #[test]
    fn padding_is_exact() {
        let m = FakeModel::new(vec![peak(2), peak(5)]).pass(|_, i, _| (30 + i as i64, -1.0));
        decode_nar(&m, &[vec![5, 1], vec![6, 1]], &nar_params(1, 1)).unwrap();
        let seen = m.seen.borrow();
        let (_, tokens, mask) = &seen[0];
        assert_eq!(tokens.row(0).to_vec(), vec![3, 3, 1, 0, 0, 0]);
        assert_eq!(mask.row(0).to_vec(), vec![1, 1, 1, 0, 0, 0]);
        assert_eq!(tokens.row(1).to_vec(), vec![3, 3, 3, 3, 3, 1]);
        assert_eq!(mask.row(1).to_vec(), vec![1; 6]);
    }

    #[test]
    fn mask_predict_remasks_linearly_fewer_least_confident_tokens() {
        // Confidence grows with position, so the leftmost tokens are re-masked first.
        let m = FakeModel::new(vec![peak(8)])
            .pass(|_, i, t| (if t == 3 { 40 + i as i64 } else { t }, -(10.0 - i as f32)));
        let mut p = nar_params(4, 1);
        p.acceptance = Acceptance::MaskPredict;
        let out = decode_nar(&m, &[vec![5, 1]], &p).unwrap();
        let seen = m.seen.borrow();
        let masks: Vec<usize> = seen
            .iter()
            .map(|(_, t, _)| t.iter().filter(|&&x| x == 3).count())
            .collect();
        // 8 masks, then n = 8*3/4 = 6, 8*2/4 = 4, 8*1/4 = 2.
        assert_eq!(masks, vec![8, 6, 4, 2]);
        assert_eq!(out[0].tokens, (40..48).collect::<Vec<_>>());
    }

    #[test]
    fn stutter_is_rejected_and_leftover_masks_dropped() {
        let m = FakeModel::new(vec![peak(4)])
            .pass(|_, i, _| (if i < 2 { 50 } else { 60 + i as i64 }, -1.0));
        let mut p = nar_params(1, 1);
        p.remask_stutter = true;
        let out = decode_nar(&m, &[vec![5, 1]], &p).unwrap();
        // Position 1 repeats position 0, so it keeps its <mask> and is dropped from the output.
        assert_eq!(out[0].tokens, vec![50, 62, 63]);
        assert_eq!(out[0].length, 4);
    }

    #[test]
    fn a_repeat_left_after_reverting_a_stutter_is_dropped_from_the_output() {
        // Pass 1 gives 50 60 70. Pass 2 predicts 60 60 80: position 0 becomes 60, position 1
        // repeats it and is reverted to its old token -- also 60. The row holds 60 60 80.
        let model = || {
            FakeModel::new(vec![peak(3)])
                .pass(|_, i, _| ([50, 60, 70][i], -1.0))
                .pass(|_, i, _| ([60, 60, 80][i], -1.0))
        };
        let mut p = nar_params(2, 1);
        let out = decode_nar(&model(), &[vec![5, 1]], &p).unwrap();
        assert_eq!(out[0].tokens, vec![60, 60, 80]);
        p.remask_stutter = true;
        let out = decode_nar(&model(), &[vec![5, 1]], &p).unwrap();
        assert_eq!(out[0].tokens, vec![60, 80]);
        assert_eq!(out[0].length, 3);
    }

    #[test]
    fn length_beam_picks_the_best_scoring_candidate() {
        // Lengths 4, 5, 6; the length-6 row is the most confident.
        let m = FakeModel::new(vec![peak(5)])
            .pass(|len, i, _| (70 + i as i64, if len == 6 { -0.2 } else { -1.0 }));
        let out = decode_nar(&m, &[vec![5, 1]], &nar_params(1, 3)).unwrap();
        assert_eq!(out[0].length, 6);
        assert_eq!(out[0].tokens.len(), 6);
        let seen = m.seen.borrow();
        assert_eq!(seen[0].0, vec![0, 0, 0], "all candidates run as one batch");
    }

    #[test]
    fn prune_after_refines_only_the_best_length_from_then_on() {
        // Lengths 4, 5, 6 of each of two sentences. Pass 1: length 6 is the most confident.
        // Pass 2: length 6 drops to -3; the others keep their tokens at -1 (and finish).
        let model = || {
            FakeModel::new(vec![peak(5), peak(5)])
                .pass(|len, i, _| (70 + i as i64, if len == 6 { -0.2 } else { -1.0 }))
                .pass(|len, i, _| {
                    if len == 6 {
                        (80 + i as i64, -3.0)
                    } else {
                        (70 + i as i64, -1.0)
                    }
                })
                .pass(|_, i, _| (90 + i as i64, -3.0))
        };
        let sources = [vec![5, 1], vec![6, 1]];
        let m = model();
        let all = decode_nar(&m, &sources, &nar_params(3, 3)).unwrap();
        assert_eq!(all[0].length, 4, "without pruning, length 4 wins at -1");
        assert_eq!(m.seen.borrow()[1].0.len(), 6, "pass 2 refines every length");

        let mut p = nar_params(3, 3);
        p.prune_after = 1;
        let m = model();
        let pruned = decode_nar(&m, &sources, &p).unwrap();
        let seen = m.seen.borrow();
        assert_eq!(seen[0].0, vec![0, 0, 0, 1, 1, 1], "pass 1: every length");
        assert_eq!(
            seen[1].0,
            vec![0, 1],
            "pass 2: each sentence's best length only"
        );
        for h in &pruned {
            assert_eq!(
                h.length, 6,
                "the lengths dropped after pass 1 are never chosen"
            );
            assert_eq!(h.iterations, 3);
        }
    }

    #[test]
    fn a_misbehaving_model_gives_errors_not_panics() {
        struct Broken(bool);
        impl NarModel for Broken {
            type Memory = ();
            fn special_tokens(&self) -> SpecialTokens {
                SP
            }
            fn encode(&self, _: &[Vec<i64>]) -> Result<()> {
                Ok(())
            }
            fn predict_lengths(&self, _: &()) -> Result<Vec<LengthScores>> {
                // either no distribution at all, or a fine one followed by a bad decoder
                Ok(if self.0 { vec![] } else { vec![peak(3)] })
            }
            fn refine(
                &self,
                _: &(),
                _: &[usize],
                _: &Array2<i64>,
                _: &Array2<i64>,
            ) -> Result<Predictions> {
                Ok(Predictions {
                    tokens: Array2::zeros((1, 1)),
                    logprobs: Array2::zeros((1, 1)),
                })
            }
        }
        let err = decode_nar(&Broken(true), &[vec![5, 1]], &nar_params(2, 1)).unwrap_err();
        assert!(err.to_string().contains("length"), "{err}");
        let err = decode_nar(&Broken(false), &[vec![5, 1]], &nar_params(2, 1)).unwrap_err();
        assert!(err.to_string().contains("decoder answered"), "{err}");
    }

    #[test]
    fn random_init_is_seeded() {
        let m = FakeModel::new(vec![peak(3)]).pass(|_, _, t| (t, -1.0));
        let mut p = nar_params(1, 1);
        p.init = Init::Random;
        p.seed = 11;
        decode_nar(&m, &[vec![5, 1]], &p).unwrap();
        let first = m.seen.borrow()[0].1.row(0).to_vec();
        assert_eq!(first[..3], random_tokens(11, 3, 4, 100)[..]);
    }
}
