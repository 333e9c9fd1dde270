//! Translate lines from standard input with PaDIR, one output line per input line.
//!
//!   cargo run --release --example translate -- onnx/tiny < bindings/c/sample.txt
use std::io::BufRead;

use padir::{DecodeOptions, Translator, TranslatorOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "onnx/tiny".into());
    let translator = Translator::load(&model, &TranslatorOptions::default())?;
    let lines: Vec<String> = std::io::stdin().lock().lines().collect::<Result<_, _>>()?;
    // Unset fields take the model's defaults (iterations, length beam, ...).
    for t in translator.translate(&lines, &DecodeOptions::nar())? {
        println!(
            "{}\t(score {:.2}, {} passes)",
            t.text, t.score, t.iterations
        );
    }
    Ok(())
}
