//! Corpus BLEU and chrF with sacreBLEU 2.x's default settings (BLEU: 13a tokenisation, 4-grams,
//! `exp` smoothing; chrF: character 6-grams, beta 2, whitespace removed), one reference per
//! hypothesis. Checked against sacreBLEU's own scores in the tests below. Also the share of
//! outputs with an immediately repeated token, the typical failure of parallel decoding.

use std::collections::HashMap;
use std::hash::Hash;

use once_cell::sync::Lazy;
use regex::Regex;

/// sacreBLEU's `13a` tokenizer (mteval-v13a, as used by WMT).
pub fn tokenize_13a(line: &str) -> String {
    static RULES: Lazy<Vec<(Regex, &str)>> = Lazy::new(|| {
        [
            (r"([\{-\~\[-\` -\&\(-\+\:-@/])", " $1 "),
            (r"([^0-9])([\.,])", "$1 $2 "),
            (r"([\.,])([^0-9])", " $1 $2"),
            (r"([0-9])(-)", "$1 $2 "),
        ]
        .into_iter()
        .map(|(re, rep)| (Regex::new(re).expect("valid 13a pattern"), rep))
        .collect()
    });
    let mut line = line
        .replace("<skipped>", "")
        .replace("-\n", "")
        .replace('\n', " ");
    if line.contains('&') {
        line = line
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
    }
    let mut line = format!(" {line} ");
    for (re, rep) in RULES.iter() {
        line = re.replace_all(&line, *rep).into_owned();
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn ngram_counts<T: Hash + Eq + Clone>(items: &[T], n: usize) -> HashMap<&[T], usize> {
    let mut counts = HashMap::new();
    if items.len() >= n {
        for w in items.windows(n) {
            *counts.entry(w).or_insert(0) += 1;
        }
    }
    counts
}

/// (hypothesis count, reference count, clipped matches) of order-`n` n-grams.
fn match_stats<T: Hash + Eq + Clone>(
    hyp: &[T],
    reference: &[T],
    n: usize,
) -> (usize, usize, usize) {
    let h = ngram_counts(hyp, n);
    let r = ngram_counts(reference, n);
    let matches = h
        .iter()
        .map(|(g, &c)| c.min(r.get(g).copied().unwrap_or(0)))
        .sum();
    (h.values().sum(), r.values().sum(), matches)
}

/// Corpus BLEU in 0..=100.
pub fn corpus_bleu<S: AsRef<str>>(hypotheses: &[S], references: &[S]) -> f64 {
    const ORDER: usize = 4;
    let (mut sys_len, mut ref_len) = (0usize, 0usize);
    let mut correct = [0usize; ORDER];
    let mut total = [0usize; ORDER];
    for (h, r) in hypotheses.iter().zip(references) {
        let h = tokenize_13a(h.as_ref());
        let r = tokenize_13a(r.as_ref());
        let h: Vec<&str> = h.split(' ').filter(|w| !w.is_empty()).collect();
        let r: Vec<&str> = r.split(' ').filter(|w| !w.is_empty()).collect();
        sys_len += h.len();
        ref_len += r.len();
        for n in 1..=ORDER {
            let (hc, _, m) = match_stats(&h, &r, n);
            total[n - 1] += hc;
            correct[n - 1] += m;
        }
    }
    let mut precisions = [0.0f64; ORDER];
    let mut smooth = 1.0;
    for n in 0..ORDER {
        if total[n] == 0 {
            break;
        }
        precisions[n] = if correct[n] == 0 {
            smooth *= 2.0;
            100.0 / (smooth * total[n] as f64)
        } else {
            100.0 * correct[n] as f64 / total[n] as f64
        };
    }
    let log = |p: f64| if p == 0.0 { -9_999_999_999.0 } else { p.ln() };
    let bp = if sys_len >= ref_len {
        1.0
    } else if sys_len > 0 {
        (1.0 - ref_len as f64 / sys_len as f64).exp()
    } else {
        0.0
    };
    bp * (precisions.iter().map(|&p| log(p)).sum::<f64>() / ORDER as f64).exp()
}

/// Corpus chrF (character 6-grams, beta = 2) in 0..=100.
pub fn corpus_chrf<S: AsRef<str>>(hypotheses: &[S], references: &[S]) -> f64 {
    const ORDER: usize = 6;
    const BETA2: f64 = 4.0;
    let mut stats = [(0usize, 0usize, 0usize); ORDER];
    for (h, r) in hypotheses.iter().zip(references) {
        let h: Vec<char> = h.as_ref().chars().filter(|c| !c.is_whitespace()).collect();
        let r: Vec<char> = r.as_ref().chars().filter(|c| !c.is_whitespace()).collect();
        for (n, s) in stats.iter_mut().enumerate() {
            let (hc, rc, m) = match_stats(&h, &r, n + 1);
            s.0 += hc;
            s.1 += rc;
            s.2 += m;
        }
    }
    let (mut avg_p, mut avg_r, mut effective) = (0.0, 0.0, 0);
    for &(hc, rc, m) in &stats {
        if hc > 0 && rc > 0 {
            avg_p += m as f64 / hc as f64;
            avg_r += m as f64 / rc as f64;
            effective += 1;
        }
    }
    if effective == 0 {
        return 0.0;
    }
    avg_p /= effective as f64;
    avg_r /= effective as f64;
    if avg_p + avg_r == 0.0 {
        return 0.0;
    }
    100.0 * (1.0 + BETA2) * avg_p * avg_r / (BETA2 * avg_p + avg_r)
}

/// Percentage of outputs (token ids) in which some token directly follows an identical one
/// ("le le"): non-autoregressive decoders stutter when positions agree on the same word.
pub fn repeated_token_pct<T: AsRef<[u32]>>(outputs: &[T]) -> f64 {
    if outputs.is_empty() {
        return 0.0;
    }
    let stuttering = outputs
        .iter()
        .filter(|ids| ids.as_ref().windows(2).any(|w| w[0] == w[1]))
        .count();
    100.0 * stuttering as f64 / outputs.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values printed by sacreBLEU 2.6.0:
    //   sacrebleu.corpus_bleu(hyps, [refs]).score, sacrebleu.corpus_chrf(hyps, [refs]).score
    const HYPS: [&str; 5] = [
        "Le chat est assis sur le tapis.",
        "Ouvrir le fichier %s",
        "",
        "Il y a 3,5 km-2 d'ici.",
        "Bonjour &amp; au revoir",
    ];
    const REFS: [&str; 5] = [
        "Le chat s'est assis sur le tapis.",
        "Ouvre le fichier %s",
        "Rien",
        "Il y a 3,5 km d'ici.",
        "Bonjour & au revoir !",
    ];

    #[test]
    fn repeated_tokens_are_counted_per_output() {
        let outputs: [&[u32]; 4] = [&[5, 6, 6, 7], &[5, 6, 5], &[], &[9, 9]];
        assert_eq!(repeated_token_pct(&outputs), 50.0);
        assert_eq!(repeated_token_pct::<&[u32]>(&[]), 0.0);
    }

    #[test]
    fn tokenizer_matches_sacrebleu_13a() {
        assert_eq!(
            tokenize_13a("Il y a 3,5 km-2 d'ici. (Voir {x}) 1.5$"),
            "Il y a 3,5 km-2 d'ici . ( Voir { x } ) 1.5 $"
        );
    }

    #[test]
    fn scores_match_sacrebleu() {
        assert!((corpus_bleu(&HYPS, &REFS) - 57.61743805078097).abs() < 1e-9);
        assert!((corpus_chrf(&HYPS, &REFS) - 76.19996712841498).abs() < 1e-9);
        assert!((corpus_bleu(&["a b c d e f"], &["a b c d e f"]) - 100.0).abs() < 1e-9);
        assert_eq!(corpus_bleu(&["a b x"], &["a b c d"]), 0.0);
        assert!((corpus_chrf(&["a b x"], &["a b c d"]) - 29.461279461279453).abs() < 1e-9);
    }
}
