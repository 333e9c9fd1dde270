//! Sentence splitting: a line of several sentences is translated sentence by sentence (the
//! model was trained on sentences and reads at most `max_source_len` tokens) and joined back
//! with the original spacing.
//!
//! Boundaries are Unicode's (UAX #29: no break inside `3.5`, `config.txt` or `www.debian.org`,
//! where no space follows the full stop), minus those after a common abbreviation (`e.g.`,
//! `Mr.`, `etc.` followed by a lower-case word, ...) or a single initial (`J. Smith`). A
//! sentence still too long for the model is cut further at clause punctuation, else between
//! words (`split_to_fit`).

use unicode_segmentation::UnicodeSegmentation;

/// Abbreviations after which a full stop does not end the sentence (compared in lower case,
/// without the final dot).
const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "etc", "vs", "cf", "approx", "mr", "mrs", "ms", "dr", "prof", "st", "no", "fig",
    "vol", "p", "pp", "ch", "sec", "ed", "inc", "ltd", "co", "jr", "sr", "al", "resp", "esp",
];

/// A text cut into pieces to translate and the text around them: `gaps[0]` before the first
/// piece, `gaps[i + 1]` after piece `i` (whitespace, kept as it was).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub pieces: Vec<String>,
    pub gaps: Vec<String>,
}

impl Split {
    /// The translated pieces put back between the original gaps.
    pub fn join<S: AsRef<str>>(&self, translated: &[S]) -> String {
        let mut out = self.gaps[0].clone();
        for (piece, gap) in translated.iter().zip(&self.gaps[1..]) {
            out.push_str(piece.as_ref());
            out.push_str(gap);
        }
        out
    }
}

/// Whether the sentence `s` ends in an abbreviation or an initial (so the next one continues it).
fn ends_in_abbreviation(s: &str) -> bool {
    let trimmed = s.trim_end();
    let Some(body) = trimmed.strip_suffix('.') else {
        return false;
    };
    let word = body
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    let lower = word.to_lowercase();
    ABBREVIATIONS.contains(&lower.as_str())
        || (word.chars().count() == 1 && word.chars().all(char::is_uppercase))
}

/// Split `text` into sentences, with the whitespace between them as gaps.
pub fn split_sentences(text: &str) -> Split {
    let mut sentences: Vec<String> = Vec::new();
    for segment in text.split_sentence_bounds() {
        match sentences.last_mut() {
            Some(last) if ends_in_abbreviation(last) => last.push_str(segment),
            _ => sentences.push(segment.to_string()),
        }
    }
    let mut pieces = Vec::new();
    let mut gaps = vec![String::new()];
    for s in sentences {
        // Each segment carries its trailing whitespace; the text's leading whitespace is a
        // segment of its own.
        let content = s.trim_end();
        let trailing = &s[content.len()..];
        if content.trim_start().is_empty() {
            gaps.last_mut().expect("gaps is never empty").push_str(&s);
            continue;
        }
        let lead = content.len() - content.trim_start().len();
        gaps.last_mut()
            .expect("gaps is never empty")
            .push_str(&content[..lead]);
        pieces.push(content[lead..].to_string());
        gaps.push(trailing.to_string());
    }
    Split { pieces, gaps }
}

/// Cut `sentence` into consecutive parts that each satisfy `fits` (the model can read them):
/// at clause punctuation (`,` `;` `:` followed by a space) where that suffices, else between
/// words, else (one word too long) between characters. Parts keep their own spacing: joined
/// with the returned gaps they give back the sentence.
pub fn split_to_fit(sentence: &str, fits: &dyn Fn(&str) -> bool) -> Split {
    let whole = Split {
        pieces: vec![sentence.to_string()],
        gaps: vec![String::new(), String::new()],
    };
    if fits(sentence) {
        return whole;
    }
    // Cut points (byte offsets after which a new part may start), coarsest kind first.
    let clause: Vec<usize> = sentence
        .char_indices()
        .filter(|&(i, c)| {
            matches!(c, ',' | ';' | ':') && sentence[i + 1..].starts_with(char::is_whitespace)
        })
        .map(|(i, c)| i + c.len_utf8())
        .collect();
    let words: Vec<usize> = sentence
        .char_indices()
        .filter(|&(_, c)| c.is_whitespace())
        .map(|(i, _)| i)
        .collect();
    let chars: Vec<usize> = sentence.char_indices().map(|(i, _)| i).skip(1).collect();
    for cuts in [clause, words, chars] {
        if let Some(split) = greedy_parts(sentence, &cuts, fits) {
            return split;
        }
    }
    whole // not even one character fits: the caller reports it
}

/// `text` in the pieces the model translates: its sentences, each cut further by
/// [`split_to_fit`] where the model cannot read it whole. The flag says whether that happened.
pub fn split_for_model(text: &str, fits: &dyn Fn(&str) -> bool) -> (Split, bool) {
    let sentences = split_sentences(text);
    let mut out = Split {
        pieces: Vec::new(),
        gaps: vec![sentences.gaps[0].clone()],
    };
    let mut cut = false;
    for (sentence, gap) in sentences.pieces.iter().zip(&sentences.gaps[1..]) {
        let parts = if fits(sentence) {
            Split {
                pieces: vec![sentence.clone()],
                gaps: vec![String::new(), String::new()],
            }
        } else {
            cut = true;
            split_to_fit(sentence, fits)
        };
        out.gaps
            .last_mut()
            .expect("gaps is never empty")
            .push_str(&parts.gaps[0]);
        out.pieces.extend(parts.pieces);
        out.gaps.extend(parts.gaps[1..].iter().cloned());
        out.gaps
            .last_mut()
            .expect("gaps is never empty")
            .push_str(gap);
    }
    (out, cut)
}

/// Longest parts first: from each start, the farthest cut whose part still fits.
fn greedy_parts(sentence: &str, cuts: &[usize], fits: &dyn Fn(&str) -> bool) -> Option<Split> {
    let mut bounds = vec![0];
    let mut start = 0;
    while !fits(&sentence[start..]) {
        let next = cuts
            .iter()
            .copied()
            .filter(|&c| c > start)
            .take_while(|&c| fits(&sentence[start..c]))
            .last()?;
        bounds.push(next);
        start = next;
    }
    bounds.push(sentence.len());
    let mut pieces = Vec::new();
    let mut gaps = vec![String::new()];
    for w in bounds.windows(2) {
        let part = &sentence[w[0]..w[1]];
        let content = part.trim();
        if content.is_empty() {
            gaps.last_mut().expect("gaps is never empty").push_str(part);
            continue;
        }
        let lead = part.len() - part.trim_start().len();
        gaps.last_mut()
            .expect("gaps is never empty")
            .push_str(&part[..lead]);
        pieces.push(content.to_string());
        gaps.push(part[lead + content.len()..].to_string());
    }
    Some(Split { pieces, gaps })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paragraph_splits_into_its_sentences_and_joins_back() {
        let text = "  Save the file. Then close it!  Is it saved? Yes: see e.g. the log.\tDone ";
        let s = split_sentences(text);
        assert_eq!(
            s.pieces,
            [
                "Save the file.",
                "Then close it!",
                "Is it saved?",
                "Yes: see e.g. the log.",
                "Done"
            ]
        );
        assert_eq!(s.join(&s.pieces), text);
    }

    #[test]
    fn numbers_file_names_urls_and_initials_do_not_end_sentences() {
        for text in [
            "Version 3.5 of config.txt is at www.debian.org/doc now.",
            "Ask J. Smith about it.",
            "Use tools, etc. and more.",
        ] {
            assert_eq!(split_sentences(text).pieces, [text], "{text}");
        }
    }

    #[test]
    fn an_empty_or_blank_text_has_no_pieces() {
        for text in ["", "   ", "\t"] {
            let s = split_sentences(text);
            assert!(s.pieces.is_empty());
            assert_eq!(s.join::<&str>(&[]), text);
        }
    }

    #[test]
    fn a_long_sentence_is_cut_at_clauses_then_words() {
        let fits = |s: &str| s.len() <= 20;
        let s = split_to_fit("one two, three four; five six seven eight", &fits);
        assert!(s.pieces.iter().all(|p| fits(p)), "{:?}", s.pieces);
        assert_eq!(s.pieces[0], "one two, three four;");
        assert_eq!(
            s.join(&s.pieces),
            "one two, three four; five six seven eight"
        );
        let s = split_to_fit("abcdefghijklmnopqrstuvwxyz0123456789", &fits);
        assert_eq!(s.pieces.len(), 2);
        assert_eq!(s.join(&s.pieces), "abcdefghijklmnopqrstuvwxyz0123456789");
    }
}
