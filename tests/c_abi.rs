//! The C ABI from C: compile `bindings/c/{example,abuse_test}.c` with the system C compiler
//! against the cdylib and the generated header, run them on `onnx/tiny`, and check the example
//! for leaks under valgrind.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TempDir;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Directory holding `libpadir.so`: the same profile directory as the `padir` binary.
/// `cargo test` rebuilds the binary but not the cdylib, so a library older than a source file
/// is from an earlier build: testing it would test old code.
fn lib_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_padir"))
        .parent()
        .unwrap()
        .to_path_buf();
    let lib = dir.join(format!(
        "{}padir{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    let built = std::fs::metadata(&lib).and_then(|m| m.modified()).ok();
    assert!(
        built >= newest_source(&root().join("src")),
        "{} is older than the sources: run `cargo build --release` (or scripts/setup.sh) first",
        lib.display()
    );
    dir
}

fn newest_source(dir: &Path) -> Option<std::time::SystemTime> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let p = e.path();
            if p.is_dir() {
                newest_source(&p)
            } else {
                e.metadata().and_then(|m| m.modified()).ok()
            }
        })
        .max()
}

fn compile(source: &str, out: &Path) {
    let lib = lib_dir();
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .arg(root().join("bindings/c").join(source))
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(out)
        .arg(format!("-I{}", root().join("bindings/c").display()))
        .arg(format!("-L{}", lib.display()))
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-lpadir")
        .status()
        .expect("a C compiler (cc) is needed for this test");
    assert!(status.success(), "compiling {source} failed");
}

#[test]
fn c_example_translates() {
    let dir = TempDir::new("c-example");
    let exe = dir.path().join("example");
    compile("example.c", &exe);
    let out = Command::new(&exe)
        .arg(common::TINY)
        .stdin(std::fs::File::open(root().join("bindings/c/sample.txt")).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.lines().filter(|l| l.contains("iterations)")).count(),
        3,
        "{text}"
    );
}

#[test]
fn c_abi_survives_bad_input() {
    let dir = TempDir::new("c-abuse");
    let exe = dir.path().join("abuse_test");
    compile("abuse_test.c", &exe);
    let out = Command::new(&exe).arg(common::TINY).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    // The library never prints into its host: the test's own stderr must stay empty.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.trim().is_empty(), "the library printed: {stderr}");
}

#[test]
fn c_example_has_no_leaks_under_valgrind() {
    if std::env::var_os("PADIR_SKIP_VALGRIND").is_some() {
        eprintln!("PADIR_SKIP_VALGRIND is set: skipping the leak check");
        return;
    }
    let dir = TempDir::new("c-valgrind");
    let exe = dir.path().join("example");
    compile("example.c", &exe);
    let out = Command::new("valgrind")
        .args([
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--error-exitcode=99",
            "--quiet",
        ])
        .arg(format!(
            "--suppressions={}",
            root().join("bindings/c/valgrind.supp").display()
        ))
        .arg(&exe)
        .arg(common::TINY)
        .stdin(std::fs::File::open(root().join("bindings/c/sample.txt")).unwrap())
        .output()
        .expect("valgrind is needed for the leak check (or set PADIR_SKIP_VALGRIND=1)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "valgrind found leaks or errors:\n{stderr}"
    );
    assert!(!stderr.contains("definitely lost"), "{stderr}");
}
