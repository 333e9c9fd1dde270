//! `padir bench`: the same sentences through the AR baseline and PaDIR at several settings, in
//! one process, one after the other, with the same threads.
//!
//! Per configuration: latency per sentence at batch 1 (p50, p90), throughput at batch B
//! (sentences/s, target tokens/s), mean decoder passes (verify: teacher passes), the share of
//! outputs identical to AR greedy's, the share of outputs with an immediately
//! repeated token, and BLEU / chrF when references are given. Once per run: model load time and
//! the process's peak resident memory.

use std::time::Instant;

use serde::Serialize;

use crate::metrics::{corpus_bleu, corpus_chrf, repeated_token_pct};
use crate::{DecodeOptions, Mode, NarOptions, Result, Translator};

/// The baseline's name: speed ratios and agreement are against this row.
pub const AR_CONFIG: &str = "AR greedy";

/// One decoding setting to measure.
#[derive(Debug, Clone)]
pub struct Config {
    pub name: String,
    pub mode: Mode,
}

/// AR greedy, draft-and-verify with 1- and 2-pass drafts (where the model has its AR graphs), then
/// PaDIR at 1, 2, 4 and 8 iterations with length beam 1 and 3, and length beam 3 pruned to the
/// best length after the first pass.
pub fn default_configs(has_ar: bool) -> Vec<Config> {
    let mut out = Vec::new();
    if has_ar {
        out.push(Config {
            name: AR_CONFIG.into(),
            mode: Mode::Ar,
        });
        for iterations in [1, 2] {
            out.push(Config {
                name: format!("verify draft i={iterations}"),
                mode: Mode::Verify(NarOptions {
                    iterations: Some(iterations),
                    ..Default::default()
                }),
            });
        }
    }
    for iterations in [1, 2, 4, 8] {
        for length_beam in [1, 3] {
            out.push(Config {
                name: format!("NAR i={iterations} b={length_beam}"),
                mode: Mode::Nar(NarOptions {
                    iterations: Some(iterations),
                    length_beam: Some(length_beam),
                    prune_after: Some(0),
                    ..Default::default()
                }),
            });
        }
        if iterations > 1 {
            out.push(Config {
                name: format!("NAR i={iterations} b=3 prune 1"),
                mode: Mode::Nar(NarOptions {
                    iterations: Some(iterations),
                    length_beam: Some(3),
                    prune_after: Some(1),
                    ..Default::default()
                }),
            });
        }
    }
    out
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub config: String,
    pub latency_p50_ms: f64,
    pub latency_p90_ms: f64,
    pub sentences_per_s: f64,
    pub target_tokens_per_s: f64,
    pub mean_iterations: f64,
    /// Percentage of outputs token for token the same as AR greedy's (when it was measured
    /// first); 100 for verify mode is what it promises.
    pub same_as_ar_pct: Option<f64>,
    /// Percentage of outputs with a token directly followed by the same token.
    pub repeated_pct: f64,
    pub bleu: Option<f64>,
    pub chrf: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub model: String,
    pub sentences: usize,
    pub threads: usize,
    pub batch_size: usize,
    pub load_ms: f64,
    pub peak_rss_mb: Option<f64>,
    pub rows: Vec<Row>,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[idx]
}

/// Peak resident set size of this process (Linux: VmHWM), in MiB.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Measure every configuration on `sources` (with optional `references` for quality).
pub fn run(
    translator: &Translator,
    load_ms: f64,
    threads: usize,
    sources: &[String],
    references: Option<&[String]>,
    batch_size: usize,
    configs: &[Config],
) -> Result<Report> {
    let warmup = &sources[..sources.len().min(8)];
    let refs: Option<Vec<&str>> = references.map(|r| r.iter().map(String::as_str).collect());
    let mut rows = Vec::new();
    let mut ar_ids: Option<Vec<Vec<u32>>> = None;
    for config in configs {
        // With placeholder protection (and its AR fallback) where the model has it, as a user
        // translates; each line whole, as CTranslate2 gets it in bench/side_by_side.py.
        let single = DecodeOptions {
            mode: config.mode.clone(),
            max_length: None,
            batch_size: 1,
            protect: true,
            sentences: false,
        };
        let batched = DecodeOptions {
            batch_size,
            ..single.clone()
        };
        translator.translate(warmup, &batched)?;
        let mut latencies = Vec::with_capacity(sources.len());
        for s in sources {
            let t = Instant::now();
            translator.translate(std::slice::from_ref(s), &single)?;
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        latencies.sort_by(f64::total_cmp);
        let t = Instant::now();
        let out = translator.translate(sources, &batched)?;
        let secs = t.elapsed().as_secs_f64();
        let tokens: usize = out.iter().map(|o| o.ids.len()).sum();
        let nonempty: Vec<_> = out.iter().filter(|o| o.iterations > 0).collect();
        let mean_iterations = nonempty.iter().map(|o| o.iterations as f64).sum::<f64>()
            / nonempty.len().max(1) as f64;
        let hyps: Vec<&str> = out.iter().map(|o| o.text.as_str()).collect();
        let ids: Vec<Vec<u32>> = out.iter().map(|o| o.ids.clone()).collect();
        let same_as_ar_pct = ar_ids.as_ref().map(|a| {
            let same = a.iter().zip(&ids).filter(|(a, b)| a == b).count();
            100.0 * same as f64 / ids.len().max(1) as f64
        });
        if config.name == AR_CONFIG {
            ar_ids = Some(ids);
        }
        rows.push(Row {
            config: config.name.clone(),
            latency_p50_ms: percentile(&latencies, 0.5),
            latency_p90_ms: percentile(&latencies, 0.9),
            sentences_per_s: sources.len() as f64 / secs,
            target_tokens_per_s: tokens as f64 / secs,
            mean_iterations,
            same_as_ar_pct,
            repeated_pct: repeated_token_pct(&out.iter().map(|o| &o.ids).collect::<Vec<_>>()),
            bleu: refs.as_ref().map(|r| corpus_bleu(&hyps, r)),
            chrf: refs.as_ref().map(|r| corpus_chrf(&hyps, r)),
        });
    }
    Ok(Report {
        model: translator.manifest().name.clone(),
        sentences: sources.len(),
        threads,
        batch_size,
        load_ms,
        peak_rss_mb: peak_rss_mb(),
        rows,
    })
}

impl Report {
    /// A markdown table, with speed ratios against the AR baseline when it was measured.
    pub fn markdown(&self) -> String {
        let ar = self.rows.iter().find(|r| r.config == AR_CONFIG);
        let mut s = format!(
            "model `{}`, {} sentences, {} threads (0 = ONNX Runtime's choice), throughput at batch {}; \
             load {:.0} ms; peak RSS {}\n\n",
            self.model,
            self.sentences,
            self.threads,
            self.batch_size,
            self.load_ms,
            self.peak_rss_mb.map_or("n/a".into(), |m| format!("{m:.0} MiB"))
        );
        s += "| config | p50 ms (b=1) | p90 ms (b=1) | speedup b=1 | sent/s | tok/s | speedup | iterations | = AR % | repeats % | BLEU | chrF |\n";
        s += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
        let opt = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.1}"));
        for r in &self.rows {
            let lat_ratio = ar.map(|a| a.latency_p50_ms / r.latency_p50_ms);
            let thr_ratio = ar.map(|a| r.sentences_per_s / a.sentences_per_s);
            s += &format!(
                "| {} | {:.2} | {:.2} | {} | {:.1} | {:.0} | {} | {:.2} | {} | {:.1} | {} | {} |\n",
                r.config,
                r.latency_p50_ms,
                r.latency_p90_ms,
                lat_ratio.map_or("–".into(), |x| format!("{x:.2}x")),
                r.sentences_per_s,
                r.target_tokens_per_s,
                thr_ratio.map_or("–".into(), |x| format!("{x:.2}x")),
                r.mean_iterations,
                opt(r.same_as_ar_pct),
                r.repeated_pct,
                opt(r.bleu),
                opt(r.chrf),
            );
        }
        s
    }
}
