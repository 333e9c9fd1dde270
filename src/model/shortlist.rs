//! The lexical shortlist (`shortlist.bin`, written by `export/padir_export/shortlist.py`): per
//! sentence, the target ids the NAR decoder scores instead of the whole vocabulary, as in
//! Bergamot's translators. A pass over ~700 of 8,000 ids is ~28% faster at batch 1
//! (docs/BENCHMARKS.md, "Vocabulary shortlist").

use std::path::Path;

use crate::error::{Error, Result};

const MAGIC: &[u8; 4] = b"PDSL";
const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 20;
/// A candidate slot without an id.
const NONE: u16 = u16::MAX;

/// The target ids kept for every sentence, and for each source id its likeliest translations.
#[derive(Debug, Clone)]
pub struct Shortlist {
    vocab_size: usize,
    per_source: usize,
    frequent: Vec<u16>,
    /// `vocab_size x per_source`, row `s` for source id `s`, `NONE` where it has fewer.
    candidates: Vec<u16>,
}

impl Shortlist {
    pub fn load(path: &Path, vocab_size: i64) -> Result<Shortlist> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::model(format!("cannot read {}: {e}", path.display())))?;
        Shortlist::parse(&bytes, vocab_size)
            .map_err(|e| Error::model(format!("bad shortlist {}: {}", path.display(), e.message())))
    }

    /// Header (magic, format version, vocabulary size, frequent count, candidates per source
    /// id; u32 little-endian), then the frequent ids and the candidate table as u16.
    pub fn parse(bytes: &[u8], vocab_size: i64) -> Result<Shortlist> {
        if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
            return Err(Error::model("not a padir shortlist file"));
        }
        let field = |i: usize| {
            let b = &bytes[4 + 4 * i..8 + 4 * i];
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
        };
        let (version, vocab, n_frequent, per_source) = (field(0), field(1), field(2), field(3));
        if version != FORMAT_VERSION as usize {
            return Err(Error::model(format!(
                "format {version} is not supported (this runtime reads {FORMAT_VERSION})"
            )));
        }
        if vocab as i64 != vocab_size {
            return Err(Error::model(format!(
                "made for {vocab} pieces, the model has {vocab_size}"
            )));
        }
        let count = vocab
            .checked_mul(per_source)
            .and_then(|n| n.checked_add(n_frequent))
            .filter(|&n| n.checked_mul(2).map(|b| b + HEADER_LEN) == Some(bytes.len()));
        if count.is_none() {
            return Err(Error::model(format!(
                "{} bytes do not hold {n_frequent} + {vocab} x {per_source} ids",
                bytes.len()
            )));
        }
        let ids: Vec<u16> = bytes[HEADER_LEN..]
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect();
        let (frequent, candidates) = ids.split_at(n_frequent);
        if frequent
            .iter()
            .chain(candidates.iter().filter(|&&t| t != NONE))
            .any(|&t| t as usize >= vocab)
        {
            return Err(Error::model("an id is outside the vocabulary"));
        }
        Ok(Shortlist {
            vocab_size: vocab,
            per_source,
            frequent: frequent.to_vec(),
            candidates: candidates.to_vec(),
        })
    }

    /// The sorted ids a sentence's decoder may emit: the frequent ones, each source id's
    /// candidates, the source ids themselves (numbers, names and placeholders are copied) and
    /// `eos`. Ids outside the vocabulary are skipped.
    pub fn for_source(&self, source: &[i64], eos: i64) -> Vec<i64> {
        let mut keep = vec![false; self.vocab_size];
        let mut mark = |t: i64| {
            if let Some(k) = usize::try_from(t).ok().and_then(|t| keep.get_mut(t)) {
                *k = true;
            }
        };
        self.frequent.iter().for_each(|&t| mark(t as i64));
        for &s in source {
            mark(s);
            if let Ok(s) = usize::try_from(s) {
                let row = self
                    .candidates
                    .get(s * self.per_source..(s + 1) * self.per_source);
                for &t in row.unwrap_or(&[]).iter().filter(|&&t| t != NONE) {
                    mark(t as i64);
                }
            }
        }
        mark(eos);
        (0..self.vocab_size as i64)
            .filter(|&t| keep[t as usize])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(vocab: u32, frequent: &[u16], per_source: u32, candidates: &[u16]) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        for v in [FORMAT_VERSION, vocab, frequent.len() as u32, per_source] {
            b.extend(v.to_le_bytes());
        }
        for &t in frequent.iter().chain(candidates) {
            b.extend(t.to_le_bytes());
        }
        b
    }

    #[test]
    fn lists_hold_frequent_candidates_sources_and_eos() {
        // vocabulary 8, 2 candidates per source id; source 5 -> 6, 7; source 4 -> none
        let mut cand = vec![NONE; 16];
        cand[10] = 6;
        cand[11] = 7;
        let sl = Shortlist::parse(&file(8, &[3], 2, &cand), 8).unwrap();
        assert_eq!(sl.for_source(&[5, 1], 1), vec![1, 3, 5, 6, 7]);
        assert_eq!(sl.for_source(&[4, 1], 1), vec![1, 3, 4]);
        // ids outside the vocabulary are ignored, not a panic
        assert_eq!(sl.for_source(&[-1, 99, 1], 1), vec![1, 3]);
    }

    #[test]
    fn bad_files_are_refused() {
        let good = file(8, &[3], 1, &[NONE; 8]);
        assert!(Shortlist::parse(&good, 8).is_ok());
        assert!(Shortlist::parse(&good, 9).is_err()); // another vocabulary
        assert!(Shortlist::parse(&good[..good.len() - 1], 8).is_err()); // truncated
        assert!(Shortlist::parse(b"PDSL", 8).is_err());
        assert!(Shortlist::parse(&file(8, &[8], 1, &[NONE; 8]), 8).is_err()); // id 8 of 8
        let mut other = good.clone();
        other[4] = 2; // format 2
        assert!(Shortlist::parse(&other, 8).is_err());
        // a header whose counts overflow must not panic
        let mut huge = MAGIC.to_vec();
        for v in [FORMAT_VERSION, 8, u32::MAX, u32::MAX] {
            huge.extend(v.to_le_bytes());
        }
        assert!(Shortlist::parse(&huge, 8).is_err());
    }
}
