//! Draft-and-verify: the PaDIR student drafts each sentence, the AR teacher checks the whole
//! draft in one pass. The output is exactly greedy AR's; this example checks that it is.
//!
//!   cargo run --release --example verify -- onnx/tiny < bindings/c/sample.txt
use std::io::BufRead;

use padir::{DecodeOptions, Translator, TranslatorOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "onnx/tiny".into());
    let translator = Translator::load(&model, &TranslatorOptions::default())?;
    if !translator.has_ar() {
        return Err(format!("{model} has no AR graphs: verify mode needs them").into());
    }
    let lines: Vec<String> = std::io::stdin().lock().lines().collect::<Result<_, _>>()?;
    let verified = translator.translate(&lines, &DecodeOptions::verify())?;
    let greedy = translator.translate(&lines, &DecodeOptions::ar())?;
    for (v, g) in verified.iter().zip(&greedy) {
        let same = if v.text == g.text {
            "= AR"
        } else {
            "DIFFERS from AR"
        };
        println!(
            "{}\t({} teacher passes, AR took {}; {same})",
            v.text, v.iterations, g.iterations
        );
    }
    Ok(())
}
