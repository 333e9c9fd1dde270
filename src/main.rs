//! The `padir` command line: a thin shell over `padir::Translator`.

use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;

use padir::{
    Acceptance, DecodeOptions, Error, Init, Mode, NarOptions, Translator, TranslatorOptions,
};

const USAGE: &str = "\
usage: padir translate --model DIR [options]   translate lines from stdin (or --input FILE)
       padir bench --model DIR --input FILE.tsv [--threads N] [--batch-size B] [--limit N] [--json]
                                              AR vs PaDIR speed and quality on source[TAB reference] lines
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
    let write_err = |e: std::io::Error| Error::Runtime(format!("cannot write output: {e}"));
    let mut skipped = 0;
    // Translate batch by batch so output appears as it is ready. A line longer than the model
    // reads gives an empty output line (and a message), so one bad line loses nothing else.
    for (c, chunk) in lines.chunks(args.decode.batch_size.max(1)).enumerate() {
        let mut texts: Vec<&str> = Vec::with_capacity(chunk.len());
        for (k, line) in chunk.iter().enumerate() {
            if let Err(e) = translator.check_source(line) {
                let number = c * args.decode.batch_size.max(1) + k + 1;
                eprintln!("padir: line {number} {}; left untranslated", e.message());
                skipped += 1;
                texts.push("");
            } else {
                texts.push(line);
            }
        }
        for t in translator.translate(&texts, &args.decode)? {
            if args.json {
                let obj = serde_json::json!({
                    "text": t.text, "ids": t.ids, "score": t.score,
                    "length": t.length, "iterations": t.iterations,
                });
                writeln!(out, "{obj}").map_err(write_err)?;
            } else {
                writeln!(out, "{}", t.text).map_err(write_err)?;
            }
        }
        out.flush().map_err(write_err)?;
    }
    if skipped > 0 {
        return Err(Error::InvalidArgument(format!(
            "{skipped} line(s) were too long to translate (split them into sentences)"
        )));
    }
    Ok(())
}

/// `padir bench`: AR greedy and PaDIR at 1/2/4/8 iterations, length beam 1 and 3.
fn bench(mut it: impl Iterator<Item = String>) -> Result<(), Error> {
    let (mut model, mut input, mut json) = (None, None, false);
    let (mut threads, mut batch_size, mut limit) = (0usize, 32usize, usize::MAX);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--model" => model = Some(value::<String>(&flag, it.next())?),
            "--input" => input = Some(value::<String>(&flag, it.next())?),
            "--threads" => threads = value(&flag, it.next())?,
            "--batch-size" => batch_size = value(&flag, it.next())?,
            "--limit" => limit = value(&flag, it.next())?,
            "--json" => json = true,
            other => return Err(Error::InvalidArgument(format!("unknown option {other:?}"))),
        }
    }
    let model = model.ok_or_else(|| Error::InvalidArgument("--model DIR is required".into()))?;
    let input =
        input.ok_or_else(|| Error::InvalidArgument("--input FILE.tsv is required".into()))?;
    let lines: Vec<String> = read_lines(&Some(input))?
        .into_iter()
        .filter(|l| !l.trim().is_empty())
        .take(limit)
        .collect();
    if lines.is_empty() {
        return Err(Error::InvalidArgument("the input has no sentences".into()));
    }
    let options = TranslatorOptions {
        intra_threads: threads,
        ..Default::default()
    };
    let start = std::time::Instant::now();
    let translator = Translator::load(&model, &options)?;
    let load_ms = start.elapsed().as_secs_f64() * 1000.0;
    // Sentences the model cannot read are left out (and counted), not truncated.
    let kept: Vec<&String> = lines
        .iter()
        .filter(|l| {
            translator
                .check_source(l.split('\t').next().unwrap_or(""))
                .is_ok()
        })
        .collect();
    if kept.len() < lines.len() {
        eprintln!(
            "padir bench: left out {} of {} sentences too long for the model",
            lines.len() - kept.len(),
            lines.len()
        );
    }
    let sources: Vec<String> = kept
        .iter()
        .map(|l| l.split('\t').next().unwrap_or("").to_string())
        .collect();
    let references: Option<Vec<String>> = kept
        .iter()
        .map(|l| l.split('\t').nth(1).map(str::to_string))
        .collect();
    let configs = padir::bench::default_configs(translator.has_ar());
    let report = padir::bench::run(
        &translator,
        load_ms,
        threads,
        &sources,
        references.as_deref(),
        batch_size,
        &configs,
    )?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| Error::Runtime(e.to_string()))?
        );
    } else {
        print!("{}", report.markdown());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `--help` anywhere (`padir translate --help` too, as users of other CLIs expect) or `help`.
    let wants_help = args.iter().any(|a| a == "--help" || a == "-h")
        || args.first().is_some_and(|a| a == "help");
    let mut args = args.into_iter();
    let result = match args.next().as_deref() {
        _ if wants_help => {
            print!("{USAGE}");
            Ok(())
        }
        Some("translate") => parse_args(args).and_then(translate),
        Some("bench") => bench(args),
        Some("--version") | Some("-V") => {
            println!("padir {}", padir::VERSION);
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
