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
  --mode nar|ar|verify    PaDIR refinement (default), the greedy AR baseline, or
                          draft-and-verify: exactly AR's output, PaDIR drafting for it
                          (the PaDIR options below then set the draft; default 2
                          iterations, 1 length)
  --iterations N          most refinement passes            (default: the model's)
  --length-beam K         lengths tried around each guess   (default: the model's)
  --top-lengths K         most likely lengths tried         (default: the model's)
  --init mask|random      first decoder input               (default: the model's)
  --acceptance refine_all|mask_predict                      (default: the model's)
  --remask-stutter on|off reject a token equal to its left neighbour
  --prune-after N         after N passes refine only the best length (0 = never;
                          default: the model's)
  --seed N                seed of random initialisation
  --max-length N          most target tokens per sentence
  --batch-size B          sentences per batch (default 32)
  --threads N             ONNX Runtime intra-op threads (default: one per core; at most
                          the machine's cores unless --force-threads, never above 256)
  --provider cpu|cuda|coreml  execution provider (default cpu)
  --allow-fallback        use the CPU if the provider fails instead of stopping
  --input FILE            read from FILE instead of stdin
  --no-sentences          translate each line as one piece (default: sentence by sentence,
                          joined with the original spacing; a sentence longer than the
                          model reads is cut further, with a warning)
  --no-protect            do not protect placeholders and markup (%s, {name}, <b>, URLs, ...)
                          from the model (protected by default where the model has
                          placeholder tokens)
  --json                  one JSON object per line: text, ids, score, length, iterations
                          and sentences (and fallback: ar, repaired, split, truncated,
                          error: WHY when they apply)
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
    let mut mode = String::from("nar");
    let mut nar = NarOptions::default();
    let mut decode = DecodeOptions::default();
    let mut translator = TranslatorOptions::default();
    let mut input = None;
    let mut json = false;
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--model" => model = Some(value::<String>(&flag, it.next())?),
            "--mode" => {
                mode = value::<String>(&flag, it.next())?;
                if !matches!(mode.as_str(), "nar" | "ar" | "verify") {
                    return Err(Error::InvalidArgument(format!(
                        "unknown mode {mode:?} (nar, ar, verify)"
                    )));
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
            "--prune-after" => nar.prune_after = Some(value(&flag, it.next())?),
            "--max-length" => decode.max_length = Some(value(&flag, it.next())?),
            "--batch-size" => decode.batch_size = value(&flag, it.next())?,
            "--threads" => translator.intra_threads = value(&flag, it.next())?,
            "--force-threads" => translator.force_threads = true,
            "--provider" => {
                translator.execution_provider = value::<String>(&flag, it.next())?.parse()?
            }
            "--allow-fallback" => translator.allow_fallback = true,
            "--no-protect" => decode.protect = false,
            "--no-sentences" => decode.sentences = false,
            "--input" => input = Some(value(&flag, it.next())?),
            "--json" => json = true,
            other => return Err(Error::InvalidArgument(format!("unknown option {other:?}"))),
        }
    }
    // The PaDIR settings are the draft's in verify mode.
    decode.mode = match mode.as_str() {
        "ar" => Mode::Ar,
        "verify" => Mode::Verify(nar),
        _ => Mode::Nar(nar),
    };
    let model = model.ok_or_else(|| Error::InvalidArgument("--model DIR is required".into()))?;
    Ok(Args {
        model,
        translator,
        decode,
        input,
        json,
    })
}

/// Longest input line read (longer ones are reported and skipped, never held in memory).
const MAX_LINE_BYTES: usize = 1 << 20;

/// One line of input: its text, or why it cannot be translated.
type Line = Result<String, String>;

/// Read `reader` line by line (without line ends), calling `each` per line. A line that is not
/// valid UTF-8 or longer than `MAX_LINE_BYTES` comes as `Err(why)`, and reading goes on; only a
/// failing read stops it.
fn read_lines_with(
    mut reader: impl BufRead,
    mut each: impl FnMut(Line) -> bool,
) -> Result<(), Error> {
    let read_err = |e: std::io::Error| Error::InvalidArgument(format!("cannot read input: {e}"));
    let mut bytes = Vec::new();
    loop {
        bytes.clear();
        // Read to the end of the line, keeping at most MAX_LINE_BYTES + 1 of it.
        let mut too_long = false;
        let mut ended = false;
        loop {
            let buf = reader.fill_buf().map_err(read_err)?;
            if buf.is_empty() {
                break;
            }
            let (take, newline) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (buf.len(), false),
            };
            if bytes.len() + take > MAX_LINE_BYTES {
                too_long = true;
            } else {
                bytes.extend_from_slice(&buf[..take]);
            }
            reader.consume(take + usize::from(newline));
            if newline {
                ended = true;
                break;
            }
        }
        if !ended && bytes.is_empty() && !too_long {
            return Ok(()); // end of input
        }
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let line = if too_long {
            Err(format!("is longer than {MAX_LINE_BYTES} bytes"))
        } else {
            String::from_utf8(std::mem::take(&mut bytes))
                .map_err(|_| "is not valid UTF-8".to_string())
        };
        if !each(line) || !ended {
            return Ok(());
        }
    }
}

fn open_input(input: &Option<String>) -> Result<Box<dyn BufRead + Send>, Error> {
    Ok(match input {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path)
                .map_err(|e| Error::InvalidArgument(format!("cannot open {path}: {e}")))?,
        )),
        None => Box::new(std::io::BufReader::new(std::io::stdin())),
    })
}

/// Every input line (for `padir bench`, which needs them all first); a bad line is an error.
fn read_all_lines(input: &Option<String>) -> Result<Vec<String>, Error> {
    let mut lines = Vec::new();
    let mut bad = None;
    read_lines_with(open_input(input)?, |line| match line {
        Ok(text) => {
            lines.push(text);
            true
        }
        Err(why) => {
            bad = Some(format!("input line {} {why}", lines.len() + 1));
            false
        }
    })?;
    match bad {
        Some(msg) => Err(Error::InvalidArgument(msg)),
        None => Ok(lines),
    }
}

/// Standard output as a file, so that a write to a closed descriptor is an error (Rust's
/// `stdout()` silently discards writes when descriptor 1 is closed: `padir translate >&-`
/// would succeed having written nothing).
#[cfg(unix)]
fn stdout_file() -> std::mem::ManuallyDrop<std::fs::File> {
    use std::os::fd::FromRawFd;
    // SAFETY: descriptor 1 is only used through this handle here, and ManuallyDrop never closes it.
    std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(1) })
}

/// Whether standard output was closed when padir started. Rust's runtime reopens a closed
/// descriptor 1 on /dev/null (read-write) before `main`, so writes then "succeed"; a shell's
/// `> /dev/null` opens it write-only. Linux only (/proc), elsewhere assumed open.
fn stdout_was_closed() -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let (Ok(out), Ok(null)) = (stdout_file().metadata(), std::fs::metadata("/dev/null")) else {
            return false;
        };
        let read_write = std::fs::read_to_string("/proc/self/fdinfo/1")
            .ok()
            .and_then(|info| {
                let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?;
                u32::from_str_radix(flags.trim(), 8).ok()
            })
            .is_some_and(|flags| flags & 0o3 == 0o2); // O_ACCMODE == O_RDWR
        out.rdev() == null.rdev() && out.dev() == null.dev() && read_write
    }
    #[cfg(not(target_os = "linux"))]
    false
}

/// How long a batch waits for more lines after its first (streaming input: translate what has
/// arrived, do not wait for the end of the input).
const BATCH_WAIT: std::time::Duration = std::time::Duration::from_millis(5);

fn translate(args: Args) -> Result<(), Error> {
    if stdout_was_closed() {
        return Err(Error::Runtime(
            "cannot write output: standard output is closed".into(),
        ));
    }
    let reader = open_input(&args.input)?;
    let translator = Translator::load(&args.model, &args.translator)?;
    let batch_size = args.decode.batch_size.max(1);
    // Lines are read on their own thread and translated as they arrive, batch by batch.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Line>(4 * batch_size);
    let reading = std::thread::spawn(move || read_lines_with(reader, |line| tx.send(line).is_ok()));
    #[cfg(unix)]
    let stdout = stdout_file();
    #[cfg(unix)]
    let mut out = BufWriter::new(&*stdout);
    #[cfg(not(unix))]
    let mut out = BufWriter::new(std::io::stdout().lock());
    let write_err = |e: std::io::Error| Error::Runtime(format!("cannot write output: {e}"));
    let (mut number, mut skipped) = (0usize, 0usize);
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let deadline = std::time::Instant::now() + BATCH_WAIT;
        while batch.len() < batch_size {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => batch.push(line),
                Err(_) => break,
            }
        }
        // A line that cannot be translated (not UTF-8; or too long, when it is not split into
        // sentences) gives an empty output line and a message naming it; the other lines are
        // still translated.
        let first = number + 1;
        let mut errors: Vec<Option<String>> = Vec::with_capacity(batch.len());
        let mut texts: Vec<&str> = Vec::with_capacity(batch.len());
        for line in &batch {
            number += 1;
            let why = match line {
                Ok(text) if !args.decode.sentences => translator
                    .check_source(text)
                    .err()
                    .map(|e| e.message().to_string()),
                Ok(_) => None,
                Err(why) => Some(why.clone()),
            };
            if let Some(why) = &why {
                eprintln!("padir: line {number} {why}; left untranslated");
                skipped += 1;
            }
            texts.push(match (line, &why) {
                (Ok(text), None) => text,
                _ => "",
            });
            errors.push(why);
        }
        for (k, (t, why)) in translator
            .translate(&texts, &args.decode)?
            .into_iter()
            .zip(&errors)
            .enumerate()
        {
            if t.split {
                eprintln!(
                    "padir: line {}: a sentence longer than the model reads was cut into parts",
                    first + k
                );
            }
            if t.truncated {
                eprintln!(
                    "padir: line {}: the translation ran into the length limit (its end may be missing)",
                    first + k
                );
            }
            if args.json {
                let mut obj = serde_json::json!({
                    "text": t.text, "ids": t.ids, "score": t.score,
                    "length": t.length, "iterations": t.iterations, "sentences": t.sentences,
                });
                if t.split {
                    obj["split"] = serde_json::Value::Bool(true);
                }
                if t.truncated {
                    obj["truncated"] = serde_json::Value::Bool(true);
                }
                if let Some(why) = why {
                    obj["error"] = serde_json::Value::String(why.clone());
                }
                if t.fallback {
                    obj["fallback"] = serde_json::Value::String("ar".into());
                }
                if t.repaired {
                    obj["repaired"] = serde_json::Value::Bool(true);
                }
                writeln!(out, "{obj}").map_err(write_err)?;
            } else {
                writeln!(out, "{}", t.text).map_err(write_err)?;
            }
        }
        out.flush().map_err(write_err)?;
    }
    reading
        .join()
        .map_err(|_| Error::Runtime("the input reader panicked".into()))??;
    if skipped > 0 {
        return Err(Error::InvalidArgument(format!(
            "{skipped} line(s) were left untranslated (see the messages above)"
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
    let lines: Vec<String> = read_all_lines(&Some(input))?
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

/// The arguments as UTF-8 (an argument that is not is an error naming it, not a panic).
fn utf8_args() -> Result<Vec<String>, Error> {
    std::env::args_os()
        .skip(1)
        .enumerate()
        .map(|(i, a)| {
            a.into_string().map_err(|a| {
                Error::InvalidArgument(format!("argument {} ({a:?}) is not valid UTF-8", i + 1))
            })
        })
        .collect()
}

fn main() -> ExitCode {
    // No telemetry from an offline translator (see `padir::model::runtime`); set while the
    // process has one thread, before ONNX Runtime loads. An explicit setting is kept.
    if std::env::var_os("ORT_DISABLE_TELEMETRY").is_none() {
        std::env::set_var("ORT_DISABLE_TELEMETRY", "1");
    }
    let args = match utf8_args() {
        Ok(args) => args,
        Err(e) => return report(e),
    };
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
        Err(e) => report(e),
    }
}

fn report(e: Error) -> ExitCode {
    eprintln!("padir: {e}");
    if matches!(e, Error::InvalidArgument(_)) {
        eprintln!("run `padir --help` for usage");
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}
