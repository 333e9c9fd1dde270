//! The `padir` command line: a thin shell over `padir::Translator`.

use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;

use padir::{
    Acceptance, DecodeOptions, Error, Init, Mode, NarOptions, Translator, TranslatorOptions,
};

const USAGE: &str = "\
usage: padir translate --model DIR [options]   translate lines from stdin (or --input FILE)
       padir --version

translate options:
  --model DIR             model directory (model.json, graphs, tokenizer)
  --mode nar|ar           PaDIR refinement (default) or the greedy AR baseline
  --iterations N          most refinement passes            (default: the model's)
  --length-beam K         lengths tried around each guess   (default: the model's)
  --top-lengths K         most likely lengths tried         (default: the model's)
  --init mask|random      first decoder input               (default: the model's)
  --acceptance refine_all|mask_predict                      (default: the model's)
  --remask-stutter on|off reject a token equal to its left neighbour
  --seed N                seed of random initialisation
  --max-length N          most target tokens per sentence
  --batch-size B          sentences per batch (default 32)
  --threads N             ONNX Runtime intra-op threads (default: one per core)
  --provider cpu|cuda|coreml  execution provider (default cpu)
  --allow-fallback        use the CPU if the provider fails instead of stopping
  --input FILE            read from FILE instead of stdin
  --json                  one JSON object per line: text, ids, score, length, iterations
";

struct Args {
    model: String,
    translator: TranslatorOptions,
    decode: DecodeOptions,
    input: Option<String>,
    json: bool,
}

fn value<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, Error> {
    let v = v.ok_or_else(|| Error::InvalidArgument(format!("{flag} needs a value")))?;
    v.parse()
        .map_err(|_| Error::InvalidArgument(format!("bad value {v:?} for {flag}")))
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, Error> {
    let mut model = None;
    let mut ar = false;
    let mut nar = NarOptions::default();
    let mut decode = DecodeOptions::default();
    let mut translator = TranslatorOptions::default();
    let mut input = None;
    let mut json = false;
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--model" => model = Some(value::<String>(&flag, it.next())?),
            "--mode" => {
                ar = match value::<String>(&flag, it.next())?.as_str() {
                    "nar" => false,
                    "ar" => true,
                    m => {
                        return Err(Error::InvalidArgument(format!(
                            "unknown mode {m:?} (nar, ar)"
                        )))
                    }
                }
            }
            "--iterations" => nar.iterations = Some(value(&flag, it.next())?),
            "--length-beam" => nar.length_beam = Some(value(&flag, it.next())?),
            "--top-lengths" => nar.top_lengths = Some(value(&flag, it.next())?),
            "--seed" => nar.seed = Some(value(&flag, it.next())?),
            "--init" => {
                nar.init = Some(match value::<String>(&flag, it.next())?.as_str() {
                    "mask" => Init::Mask,
                    "random" => Init::Random,
                    v => {
                        return Err(Error::InvalidArgument(format!(
                            "unknown init {v:?} (mask, random)"
                        )))
                    }
                })
            }
            "--acceptance" => {
                nar.acceptance = Some(match value::<String>(&flag, it.next())?.as_str() {
                    "refine_all" => Acceptance::RefineAll,
                    "mask_predict" => Acceptance::MaskPredict,
                    v => {
                        return Err(Error::InvalidArgument(format!(
                            "unknown acceptance {v:?} (refine_all, mask_predict)"
                        )))
                    }
                })
            }
            "--remask-stutter" => {
                nar.remask_stutter = Some(match value::<String>(&flag, it.next())?.as_str() {
                    "on" => true,
                    "off" => false,
                    v => {
                        return Err(Error::InvalidArgument(format!(
                            "--remask-stutter takes on|off, not {v:?}"
                        )))
                    }
                })
            }
            "--max-length" => decode.max_length = Some(value(&flag, it.next())?),
            "--batch-size" => decode.batch_size = value(&flag, it.next())?,
            "--threads" => translator.intra_threads = value(&flag, it.next())?,
            "--provider" => {
                translator.execution_provider = value::<String>(&flag, it.next())?.parse()?
            }
            "--allow-fallback" => translator.allow_fallback = true,
            "--input" => input = Some(value(&flag, it.next())?),
            "--json" => json = true,
            other => return Err(Error::InvalidArgument(format!("unknown option {other:?}"))),
        }
    }
    decode.mode = if ar { Mode::Ar } else { Mode::Nar(nar) };
    let model = model.ok_or_else(|| Error::InvalidArgument("--model DIR is required".into()))?;
    Ok(Args {
        model,
        translator,
        decode,
        input,
        json,
    })
}

/// Input lines without their line ends; invalid UTF-8 is an error naming the line.
fn read_lines(input: &Option<String>) -> Result<Vec<String>, Error> {
    let reader: Box<dyn BufRead> = match input {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path)
                .map_err(|e| Error::InvalidArgument(format!("cannot open {path}: {e}")))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let mut lines = Vec::new();
    for (n, line) in reader.split(b'\n').enumerate() {
        let mut bytes =
            line.map_err(|e| Error::InvalidArgument(format!("cannot read input: {e}")))?;
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let text = String::from_utf8(bytes).map_err(|_| {
            Error::InvalidArgument(format!("input line {} is not valid UTF-8", n + 1))
        })?;
        lines.push(text);
    }
    Ok(lines)
}

fn translate(args: Args) -> Result<(), Error> {
    let lines = read_lines(&args.input)?;
    let translator = Translator::load(&args.model, &args.translator)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    // Translate batch by batch so output appears as it is ready.
    for chunk in lines.chunks(args.decode.batch_size.max(1)) {
        for t in translator.translate(chunk, &args.decode)? {
            if args.json {
                let obj = serde_json::json!({
                    "text": t.text, "ids": t.ids, "score": t.score,
                    "length": t.length, "iterations": t.iterations,
                });
                writeln!(out, "{obj}")
            } else {
                writeln!(out, "{}", t.text)
            }
            .map_err(|e| Error::Runtime(format!("cannot write output: {e}")))?;
        }
        out.flush()
            .map_err(|e| Error::Runtime(format!("cannot write output: {e}")))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let result = match args.next().as_deref() {
        Some("translate") => parse_args(args).and_then(translate),
        Some("--version") | Some("-V") => {
            println!("padir {}", padir::VERSION);
            Ok(())
        }
        Some("--help") | Some("-h") | Some("help") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(Error::InvalidArgument(format!("unknown command {other:?}"))),
        None => Err(Error::InvalidArgument("no command given".into())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("padir: {e}");
            if matches!(e, Error::InvalidArgument(_)) {
                eprintln!("run `padir --help` for usage");
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
