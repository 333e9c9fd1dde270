//! Placeholder protection: printf and Qt conversions, braces, tags, entities, URLs, e-mail
//! addresses, paths and `\n` are replaced by placeholder tokens (`<ph0>`, `<ph1>`, ...) before
//! the model sees a sentence, and accelerator markers (`&File`, `_Open`) by `<acc>`; afterwards
//! they are put back. The specification is `export/padir_export/protect.py` (training applies
//! it to the corpus); `tests/data/protect_cases.json` holds the cases both sides must agree on.

use std::collections::HashMap;

use once_cell::sync::Lazy;
use regex::Regex;

/// Most placeholders per sentence; later spans stay as text.
pub const MAX_PLACEHOLDERS: usize = 16;
/// The accelerator token.
pub const ACCELERATOR: &str = "<acc>";

/// The placeholder tokens a model's vocabulary must hold for protection to apply.
pub fn tokens() -> Vec<String> {
    (0..MAX_PLACEHOLDERS)
        .map(|i| format!("<ph{i}>"))
        .chain(std::iter::once(ACCELERATOR.to_string()))
        .collect()
}

/// The span patterns, leftmost alternative first: the same list as `SPAN_PARTS` in protect.py.
const SPAN_PARTS: &[(&str, &str)] = &[
    ("url", r#"(?:https?|ftp)://[^\s<>"']*[^\s<>"'.,;:!?)\]]"#),
    (
        "email",
        r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+",
    ),
    (
        "tag",
        r#"</?[A-Za-z][A-Za-z0-9:._-]*(?:\s+[A-Za-z_:][A-Za-z0-9:._-]*(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>"']+))?)*\s*/?>"#,
    ),
    (
        "entity",
        r"&(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#[xX][0-9A-Fa-f]+);",
    ),
    (
        "printf_named",
        r"%\([A-Za-z_][A-Za-z0-9_]*\)[-+ 0#]*[0-9]*(?:\.[0-9]+)?[diouxXeEfFgGcrsa]",
    ),
    (
        "printf_positional",
        r"%[0-9]+\$[-+0#]*[0-9]*(?:\.[0-9]+)?(?:hh|ll|[hlLqjzt])?[diouxXeEfFgGaAcspn]",
    ),
    (
        "printf",
        r"%[-+0#]*(?:[0-9]+|\*)?(?:\.(?:[0-9]+|\*))?(?:hh|ll|[hlLqjzt])?[diouxXeEfFgGaAcspn]",
    ),
    ("percent", r"%%"),
    ("qt", r"%L?[0-9]+"),
    ("brace", r"\{[A-Za-z0-9_]*(?:[:,!][^{}]*)?\}"),
    ("escape", r"\\[ntr]"),
    (
        "path",
        r"(?:~|\.{1,2})/[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*/?|/[a-z0-9.-][a-z0-9._-]*(?:/[A-Za-z0-9._-]+)+/?",
    ),
    ("accelerator", r"&[A-Za-z0-9]|_[^\W\d_]"),
];

static SPAN: Lazy<Regex> = Lazy::new(|| {
    let alternation: Vec<String> = SPAN_PARTS
        .iter()
        .map(|(name, rx)| format!("(?P<{name}>{rx})"))
        .collect();
    Regex::new(&alternation.join("|")).expect("the span patterns compile")
});
static PLACEHOLDER: Lazy<Regex> =
    Lazy::new(|| Regex::new(r"<ph([0-9]+)>|<acc>").expect("the placeholder pattern compiles"));
static PLACEHOLDER_ONLY: Lazy<Regex> =
    Lazy::new(|| Regex::new(r"<ph([0-9]+)>").expect("the placeholder pattern compiles"));

/// A sentence with its spans replaced, and what restoring needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protected {
    pub text: String,
    /// Span `k` is behind `<phk>`.
    pub spans: Vec<String>,
    /// The pattern each span matched (`printf`, `tag`, ...).
    pub kinds: Vec<&'static str>,
    /// Accelerator characters (`&` or `_`), in order.
    pub markers: Vec<char>,
    /// The text before protection.
    pub source: String,
}

impl Protected {
    /// Indices of the printf conversions without a position, in source order: their
    /// placeholders are dealt out in this order whatever order the model wrote them in.
    fn unpositioned(&self) -> impl Iterator<Item = usize> + '_ {
        self.kinds
            .iter()
            .enumerate()
            .filter(|(_, k)| **k == "printf")
            .map(|(i, _)| i)
    }
}

/// A translation with its placeholders put back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub text: String,
    /// Every span as often as in the source, and as many accelerator markers.
    pub faithful: bool,
}

fn char_before(text: &str, at: usize) -> Option<char> {
    text[..at].chars().next_back()
}

/// Which alternative matched, and whether it counts where it stands (a path only at the start
/// or after whitespace, `(` or a quote; `_` only at the start of a word).
fn span_kind(text: &str, caps: &regex::Captures<'_>) -> Option<&'static str> {
    let (name, m) = SPAN_PARTS
        .iter()
        .find_map(|(name, _)| caps.name(name).map(|m| (*name, m)))?;
    let before = char_before(text, m.start());
    match name {
        "path" if before.is_some_and(|c| !matches!(c, ' ' | '\t' | '\n' | '(' | '"' | '\'')) => {
            None
        }
        "accelerator"
            if m.as_str().starts_with('_')
                && before.is_some_and(|c| c.is_alphanumeric() || c == '_') =>
        {
            None
        }
        _ => Some(name),
    }
}

/// Replace the protected spans of `text` by placeholders (see protect.py for the rules).
pub fn protect(text: &str) -> Protected {
    let mut out = String::with_capacity(text.len());
    let (mut spans, mut kinds, mut markers) = (Vec::<String>::new(), Vec::new(), Vec::new());
    let mut pos = 0;
    for caps in SPAN.captures_iter(text) {
        let Some(kind) = span_kind(text, &caps) else {
            continue;
        };
        let m = caps.get(0).expect("a match has group 0");
        if kind == "accelerator" {
            out.push_str(&text[pos..m.start()]);
            out.push_str(ACCELERATOR);
            let marker = m.as_str().chars().next().expect("a marker is one char");
            markers.push(marker);
            pos = m.start() + marker.len_utf8(); // the letter stays
            continue;
        }
        let seen = spans.iter().position(|s| s == m.as_str());
        let index = match seen {
            // Each printf conversion without a position is an argument of its own.
            Some(i) if kind != "printf" => i,
            _ if spans.len() < MAX_PLACEHOLDERS => {
                spans.push(m.as_str().to_string());
                kinds.push(kind);
                spans.len() - 1
            }
            _ => continue, // too many: stays as text
        };
        out.push_str(&text[pos..m.start()]);
        out.push_str(&format!("<ph{index}>"));
        pos = m.end();
    }
    out.push_str(&text[pos..]);
    Protected {
        text: out,
        spans,
        kinds,
        markers,
        source: text.to_string(),
    }
}

/// Every placeholder occurrence of the protected text, as its span.
fn occurrences(p: &Protected) -> Vec<&str> {
    PLACEHOLDER_ONLY
        .captures_iter(&p.text)
        .filter_map(|c| c[1].parse::<usize>().ok())
        .filter_map(|k| p.spans.get(k).map(String::as_str))
        .collect()
}

fn counts<'a>(items: impl IntoIterator<Item = &'a str>) -> HashMap<&'a str, usize> {
    let mut m = HashMap::new();
    for s in items {
        *m.entry(s).or_insert(0) += 1;
    }
    m
}

/// Put the spans of `p` back into `translation`. printf conversions without a position are
/// dealt out in source order, so their types stay in the order printf reads its arguments.
pub fn restore(translation: &str, p: &Protected) -> Restored {
    let mut unpositioned = p.unpositioned();
    let mut markers = p.markers.iter();
    let mut used: Vec<&str> = Vec::new();
    let mut faithful = true;
    let mut out = String::with_capacity(translation.len());
    let mut pos = 0;
    for caps in PLACEHOLDER.captures_iter(translation) {
        let m = caps.get(0).expect("a match has group 0");
        out.push_str(&translation[pos..m.start()]);
        pos = m.end();
        if m.as_str() == ACCELERATOR {
            match markers.next() {
                Some(c) => out.push(*c),
                None => faithful = false,
            }
            continue;
        }
        let k = caps[1].parse::<usize>().unwrap_or(usize::MAX);
        let Some(kind) = p.kinds.get(k) else {
            faithful = false;
            continue;
        };
        let k = if *kind == "printf" {
            unpositioned.next().unwrap_or(k)
        } else {
            k
        };
        out.push_str(&p.spans[k]);
        used.push(&p.spans[k]);
    }
    out.push_str(&translation[pos..]);
    faithful = faithful && counts(used) == counts(occurrences(p)) && markers.next().is_none();
    // As the user sees it: each span as often in the result as in the source (the model may
    // also have written one as plain text).
    faithful = faithful
        && p.spans
            .iter()
            .all(|s| out.matches(s.as_str()).count() == p.source.matches(s.as_str()).count());
    // ... and no other: the spans found in the result are the source's. A span restored
    // before a letter can make a new one (`%1` then `d` reads as printf's `%1d`), and the model
    // may write a `%` of its own: a host would hand either to printf.
    faithful = faithful && counts(occurrences(&protect(&out))) == counts(occurrences(p));
    Restored {
        text: out,
        faithful,
    }
}

/// The last resort when no decoding is faithful: restore `translation` keeping each span only
/// as often as the source has it (extra placeholders, unknown ones and extra markers are
/// dropped) and append the spans it lacks, in source order: nothing of the source is lost.
pub fn repair(translation: &str, p: &Protected) -> String {
    let mut want = counts(occurrences(p));
    let mut unpositioned = p.unpositioned();
    let mut markers = p.markers.iter();
    let mut out = String::with_capacity(translation.len());
    let mut pos = 0;
    for caps in PLACEHOLDER.captures_iter(translation) {
        let m = caps.get(0).expect("a match has group 0");
        out.push_str(&translation[pos..m.start()]);
        pos = m.end();
        if m.as_str() == ACCELERATOR {
            if let Some(c) = markers.next() {
                out.push(*c);
            }
            continue;
        }
        let k = caps[1].parse::<usize>().unwrap_or(usize::MAX);
        let Some(kind) = p.kinds.get(k) else {
            continue;
        };
        let k = if *kind == "printf" {
            match unpositioned.next() {
                Some(k) => k,
                None => continue,
            }
        } else {
            k
        };
        let span = p.spans[k].as_str();
        if let Some(n) = want.get_mut(span).filter(|n| **n > 0) {
            *n -= 1;
            out.push_str(span);
        }
    }
    out.push_str(&translation[pos..]);
    let out = place_markers(&out, markers);
    let mut missing = Vec::new();
    for s in occurrences(p) {
        if let Some(n) = want.get_mut(s).filter(|n| **n > 0) {
            *n -= 1;
            missing.push(s);
        }
    }
    if missing.is_empty() {
        return out;
    }
    let mut text = out.trim_end().to_string();
    for s in missing {
        text.push(' ');
        text.push_str(s);
    }
    text
}

/// Markers the translation lost go before the first letter or digit of its first words, one
/// per word (`&File` -> `Fichier` -> `&Fichier`); words end at whitespace and `/`.
fn place_markers<'a>(text: &str, markers: impl Iterator<Item = &'a char>) -> String {
    let mut pending = markers.peekable();
    let mut out = String::with_capacity(text.len() + 2);
    let mut in_word = false;
    for c in text.chars() {
        if c.is_whitespace() || c == '/' {
            // menu paths: /File/Open
            in_word = false;
        } else if c.is_alphanumeric() {
            if !in_word {
                if let Some(m) = pending.next() {
                    out.push(*m);
                }
            }
            in_word = true;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_types_keep_their_order() {
        let p = protect("Error %s at line %d");
        let r = restore("À la ligne <ph1>, erreur <ph0>", &p);
        assert_eq!(r.text, "À la ligne %s, erreur %d");
        assert!(r.faithful);
    }

    #[test]
    fn a_lost_tag_is_appended_not_dropped() {
        let p = protect("Click <b>Save</b> now");
        let out = "Cliquez <ph0>Enregistrer maintenant";
        assert!(!restore(out, &p).faithful);
        assert_eq!(repair(out, &p), "Cliquez <b>Enregistrer maintenant </b>");
    }
}
