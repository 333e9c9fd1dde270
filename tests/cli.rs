//! The `padir` binary: line in, line out; JSON details; one clear error line.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn padir(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_padir"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A padir that stops early (bad usage, missing model) may close its stdin before the
    // input is written: that broken pipe is the test's own, not an error of padir's.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

#[test]
fn translates_line_by_line_keeping_empty_lines() {
    for mode in ["nar", "ar", "verify"] {
        let out = padir(
            &["translate", "--model", common::TINY, "--mode", mode],
            "Open the file\n\nClose all windows\n",
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text:?}");
        assert_eq!(lines[1], "");
        assert!(!lines[0].is_empty() && !lines[2].is_empty());
    }
}

#[test]
fn json_output_has_the_details() {
    let out = padir(
        &[
            "translate",
            "--model",
            common::TINY,
            "--json",
            "--iterations",
            "2",
        ],
        "Open the file\n",
    );
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["text", "ids", "score", "length", "iterations"] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert!(v["iterations"].as_u64().unwrap() <= 2);
}

#[test]
fn errors_are_one_clear_line_and_nonzero() {
    let out = padir(&["translate", "--model", common::TINY, "--bogus"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown option \"--bogus\""));

    let out = padir(&["translate", "--model", "/nonexistent"], "hello\n");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("padir: model error:") && err.contains("/nonexistent"),
        "{err}"
    );

    let out = padir(
        &["translate", "--model", common::TINY, "--mode", "sideways"],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_after_a_command_prints_the_usage() {
    for command in ["translate", "bench"] {
        let out = padir(&[command, "--help"], "");
        assert_eq!(out.status.code(), Some(0), "{command} --help");
        assert!(String::from_utf8_lossy(&out.stdout).contains("--length-beam"));
    }
}

#[test]
fn invalid_utf8_input_is_reported_with_its_line_and_the_rest_translated() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_padir"))
        .args(["translate", "--model", common::TINY, "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Open the file\n\xff\xfe bad\nClose all windows\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2 is not valid UTF-8"));
    let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert!(!rows[0]["text"].as_str().unwrap().is_empty() && rows[0].get("error").is_none());
    assert_eq!(rows[1]["text"], "");
    assert_eq!(rows[1]["error"], "is not valid UTF-8");
    assert!(!rows[2]["text"].as_str().unwrap().is_empty());
}

#[test]
fn translations_stream_as_lines_arrive() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_padir"))
        .args(["translate", "--model", common::TINY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // With the input still open, each line's translation must come back before the next is sent.
    for line in ["Open the file\n", "Close all windows\n"] {
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.flush().unwrap();
        let mut got = String::new();
        stdout.read_line(&mut got).unwrap();
        assert!(got.ends_with('\n') && !got.trim().is_empty(), "{got:?}");
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[cfg(unix)]
#[test]
fn a_closed_standard_output_is_an_error() {
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "seq 100 | '{}' translate --model '{}' >&- 2>/dev/null",
            env!("CARGO_BIN_EXE_padir"),
            common::TINY
        ))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    // Output thrown away on purpose is not an error.
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "seq 3 | '{}' translate --model '{}' >/dev/null",
            env!("CARGO_BIN_EXE_padir"),
            common::TINY
        ))
        .status()
        .unwrap();
    assert!(status.success());
}

#[cfg(unix)]
#[test]
fn a_non_utf8_argument_is_an_error_not_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let out = Command::new(env!("CARGO_BIN_EXE_padir"))
        .arg("translate")
        .arg("--model")
        .arg(std::ffi::OsStr::from_bytes(b"\xff"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("argument 3") && err.contains("not valid UTF-8"),
        "{err}"
    );
}

#[test]
fn too_many_threads_are_refused_with_the_limit() {
    let out = padir(
        &["translate", "--model", common::TINY, "--threads", "20000"],
        "Open the file\n",
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cores") && err.contains("--force-threads"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn bench_reports_every_configuration_with_quality() {
    let dir = common::TempDir::new("bench");
    let tsv = dir.path().join("set.tsv");
    std::fs::write(
        &tsv,
        "Open the file\tOuvrir le fichier\nClose all windows\tFermer toutes les fenêtres\n",
    )
    .unwrap();
    let out = padir(
        &[
            "bench",
            "--model",
            common::TINY,
            "--input",
            tsv.to_str().unwrap(),
            "--threads",
            "1",
            "--json",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        14,
        "AR, 2 verify, 8 NAR settings and 3 pruned ones"
    );
    assert_eq!(rows[0]["config"], "AR greedy");
    assert!(rows[0]["same_as_ar_pct"].is_null());
    for r in &rows[1..3] {
        assert!(r["config"].as_str().unwrap().starts_with("verify"));
        assert_eq!(r["same_as_ar_pct"].as_f64(), Some(100.0), "{r}");
    }
    for r in rows {
        assert!(r["sentences_per_s"].as_f64().unwrap() > 0.0);
        assert!(r["bleu"].as_f64().is_some() && r["chrf"].as_f64().is_some());
        assert!((0.0..=100.0).contains(&r["repeated_pct"].as_f64().unwrap()));
    }
    assert_eq!(v["sentences"], 2);
}

#[test]
fn a_too_long_line_is_cut_into_parts_or_left_out_whole() {
    let long = "word ".repeat(3000);
    let input = format!("Open the file\n{long}\nClose all windows\n");
    // Sentence by sentence (the default): translated in parts, with a warning.
    let out = padir(&["translate", "--model", common::TINY], &input);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text:?}");
    assert!(lines.iter().all(|l| !l.is_empty()));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("line 2: a sentence longer than the model reads was cut"));
    // Whole lines: that line is left out, the others translated.
    let out = padir(
        &["translate", "--model", common::TINY, "--no-sentences"],
        &input,
    );
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text:?}");
    assert!(!lines[0].is_empty() && lines[1].is_empty() && !lines[2].is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2 has"));
}

#[test]
fn a_paragraph_comes_back_as_its_sentences_on_one_line() {
    let para = "Save the file. Close the window. Open the menu. Quit the program. Restart it.";
    let out = padir(
        &["translate", "--model", common::TINY, "--json"],
        &format!("{para}\n"),
    );
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sentences"], 5);
}

/// ONNX Runtime's own telemetry (the wheel's 1.31 library) writes a device id and queues usage
/// events under `$HOME/.cache/Microsoft/DeveloperTools` unless `ORT_DISABLE_TELEMETRY=1`: the
/// CLI sets it, so an offline translation leaves nothing there. The control run, with the user's
/// explicit `ORT_DISABLE_TELEMETRY=0` kept, shows where the files would be.
#[cfg(target_os = "linux")]
/// The variables by which ONNX Runtime 1.31 recognises a CI machine and turns its telemetry off
/// (`strings libonnxruntime.so`).
const ORT_CI_VARIABLES: [&str; 12] = [
    "CI",
    "APPVEYOR",
    "BITBUCKET_BUILD_NUMBER",
    "BUILDKITE",
    "CIRCLECI",
    "CODEBUILD_BUILD_ID",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "JENKINS_URL",
    "TEAMCITY_VERSION",
    "TF_BUILD",
    "TRAVIS",
];

#[test]
fn onnx_runtime_telemetry_is_off_unless_asked_for() {
    let files_left = |setting: Option<&str>| {
        let home = common::TempDir::new("telemetry-home");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_padir"));
        cmd.args(["translate", "--model", common::TINY])
            .env("HOME", home.path())
            .env_remove("XDG_CACHE_HOME")
            .env_remove("ORT_DISABLE_TELEMETRY");
        // ONNX Runtime also stays silent where it sees a CI service's variable: cleared, so
        // both runs measure the CLI's own setting (and the control writes) on a CI machine too.
        for name in ORT_CI_VARIABLES {
            cmd.env_remove(name);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(value) = setting {
            cmd.env("ORT_DISABLE_TELEMETRY", value);
        }
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"Open the file\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_dir(home.path()).unwrap().count()
    };
    assert_eq!(files_left(None), 0, "the CLI left telemetry files in HOME");
    assert!(
        files_left(Some("0")) > 0,
        "the control run wrote no telemetry files"
    );
}
