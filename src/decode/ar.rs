//! Greedy autoregressive decoding with a key/value cache: the baseline PaDIR is measured against.

use super::{mean, ArModel, Hypothesis};
use crate::error::{Error, Result};

/// Translate a batch of tokenised sentences (each ending in `</s>`, none empty) greedily.
/// A row ends at `</s>` or after `max_length` tokens; finished rows leave the batch.
pub fn decode_ar<M: ArModel>(
    model: &M,
    sources: &[Vec<i64>],
    max_length: usize,
) -> Result<Vec<Hypothesis>> {
    let sp = model.special_tokens();
    let mut state = model.start(sources)?;
    let mut alive: Vec<usize> = (0..sources.len()).collect();
    let mut previous = vec![sp.pad; sources.len()];
    let mut tokens: Vec<Vec<i64>> = vec![Vec::new(); sources.len()];
    let mut logprobs: Vec<Vec<f32>> = vec![Vec::new(); sources.len()];
    while !alive.is_empty() {
        let (next, lp) = model.step(&mut state, &previous)?;
        if next.len() != alive.len() || lp.len() != alive.len() {
            return Err(Error::runtime(format!(
                "the AR decoder answered {} tokens for {} rows",
                next.len(),
                alive.len()
            )));
        }
        let mut keep = Vec::with_capacity(alive.len());
        for (k, &s) in alive.iter().enumerate() {
            logprobs[s].push(lp[k]);
            if next[k] == sp.eos {
                continue;
            }
            tokens[s].push(next[k]);
            if tokens[s].len() < max_length {
                keep.push(k);
            }
        }
        if keep.len() < alive.len() {
            model.retain(&mut state, &keep)?;
            alive = keep.iter().map(|&k| alive[k]).collect();
        }
        previous = keep.iter().map(|&k| next[k]).collect();
    }
    Ok(tokens
        .into_iter()
        .zip(logprobs)
        .map(|(tokens, lp)| Hypothesis {
            score: mean(&lp) as f32,
            length: tokens.len(),
            iterations: lp.len(),
            tokens,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::decode::test_support::SP;
    use crate::decode::SpecialTokens;

    /// Sentence `s` emits `scripts[s]` then `</s>`; records every step's input.
    struct FakeModel {
        scripts: Vec<Vec<i64>>,
        steps: RefCell<Vec<Vec<i64>>>,
    }

    /// State: (sentence, position) of each live row.
    impl ArModel for FakeModel {
        type State = Vec<(usize, usize)>;
        fn special_tokens(&self) -> SpecialTokens {
            SP
        }
        fn start(&self, sources: &[Vec<i64>]) -> Result<Self::State> {
            Ok((0..sources.len()).map(|s| (s, 0)).collect())
        }
        fn step(&self, state: &mut Self::State, previous: &[i64]) -> Result<(Vec<i64>, Vec<f32>)> {
            assert_eq!(previous.len(), state.len());
            self.steps.borrow_mut().push(previous.to_vec());
            let mut out = Vec::new();
            for (s, pos) in state.iter_mut() {
                out.push(*self.scripts[*s].get(*pos).unwrap_or(&SP.eos));
                *pos += 1;
            }
            let lp = vec![-0.5; out.len()];
            Ok((out, lp))
        }
        fn retain(&self, state: &mut Self::State, rows: &[usize]) -> Result<()> {
            *state = rows.iter().map(|&r| state[r]).collect();
            Ok(())
        }
    }

    #[test]
    fn greedy_feeds_back_and_drops_finished_rows() {
        let m = FakeModel {
            scripts: vec![vec![7], vec![8, 9, 10]],
            steps: RefCell::new(Vec::new()),
        };
        let out = decode_ar(&m, &[vec![5, 1], vec![6, 1]], 10).unwrap();
        assert_eq!(out[0].tokens, vec![7]);
        assert_eq!(out[1].tokens, vec![8, 9, 10]);
        assert_eq!(out[0].iterations, 2, "one token plus </s>");
        assert_eq!(out[1].iterations, 4);
        assert_eq!(
            *m.steps.borrow(),
            vec![vec![0, 0], vec![7, 8], vec![9], vec![10]]
        );
        assert!((out[1].score + 0.5).abs() < 1e-6);
    }

    #[test]
    fn max_length_stops_a_row() {
        let m = FakeModel {
            scripts: vec![vec![7; 50]],
            steps: RefCell::new(Vec::new()),
        };
        let out = decode_ar(&m, &[vec![5, 1]], 4).unwrap();
        assert_eq!(out[0].tokens, vec![7; 4]);
        assert_eq!(out[0].length, 4);
    }
}
