//! Loading the ONNX Runtime library and opening sessions with the chosen execution provider.
//!
//! ONNX Runtime is loaded at run time (`ort`'s `load-dynamic`), never downloaded. The library is
//! looked for, in order: the path given to [`set_onnxruntime_library`] (the Python wheel passes
//! the `onnxruntime` wheel's), `ORT_DYLIB_PATH`, next to the executable, next to the library
//! holding padir (an installed `lib/` folder), and where `scripts/setup.sh` put it in the build
//! tree (`<repo>/.ort/`). ONNX Runtime allows one environment per process, so it is created once,
//! on the first graph opened; the library cannot change after that.
//!
//! Telemetry: the `onnxruntime` wheel's library (1.31) collects usage events and, unless
//! `ORT_DISABLE_TELEMETRY=1` is in the process environment when it starts, writes a device id and
//! an upload queue under `~/.cache/Microsoft/DeveloperTools/`. An offline translator should do
//! neither: the environment is created with telemetry events off, and the `padir` CLI and the
//! Python package set `ORT_DISABLE_TELEMETRY=1` (unless the caller set it) before ONNX Runtime
//! loads. A library cannot safely change its host's environment (other threads may be reading
//! it), so C and Java hosts set the variable themselves for the full opt-out.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use once_cell::sync::OnceCell;
use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;

use crate::error::{Error, Result};
use crate::options::{ExecutionProvider, TranslatorOptions};

/// The environment and the library it was loaded from. A failed load is not kept: after
/// `set_onnxruntime_library`, the next translator tries again.
static ENVIRONMENT: OnceCell<(Environment, PathBuf)> = OnceCell::new();
/// The caller's choice of library; held while the environment is created, so that a choice is
/// either used or refused, never silently ignored.
static CHOSEN: Mutex<Option<PathBuf>> = Mutex::new(None);

fn library_name() -> String {
    format!(
        "{}onnxruntime{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// Use the ONNX Runtime library at `path` (a `libonnxruntime` 1.31+). Call it before the first
/// translator is loaded: once ONNX Runtime is loaded, a different path is an error (the same
/// path is fine). It takes precedence over `ORT_DYLIB_PATH`.
pub fn set_onnxruntime_library(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    if !path.is_file() {
        return Err(Error::invalid(format!(
            "no ONNX Runtime library at {}",
            path.display()
        )));
    }
    let mut chosen = CHOSEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, loaded)) = ENVIRONMENT.get() {
        if !same_file(loaded, path) {
            return Err(Error::invalid(format!(
                "ONNX Runtime is already loaded from {} (once per process); cannot switch to {}",
                loaded.display(),
                path.display()
            )));
        }
    }
    // ONNX Runtime resolves a relative path against the executable's folder: make it absolute.
    *chosen = Some(
        std::path::absolute(path)
            .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?,
    );
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// Where the ONNX Runtime library is looked for, in order.
fn candidates(chosen: Option<&Path>) -> Vec<PathBuf> {
    // An explicit choice is never second-guessed.
    if let Some(p) = chosen {
        return vec![p.to_path_buf()];
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        return vec![PathBuf::from(p)];
    }
    let mut out = Vec::new();
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf));
    for dir in [exe_dir, this_library_dir()].into_iter().flatten() {
        let path = dir.join(library_name());
        if !out.contains(&path) {
            out.push(path);
        }
    }
    out.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(".ort")
            .join(library_name()),
    );
    out
}

/// The folder of the shared library (or executable) this code was loaded from: an installed
/// `libpadir.so` finds `libonnxruntime.so` beside it.
#[cfg(unix)]
fn this_library_dir() -> Option<PathBuf> {
    use std::ffi::{c_char, c_int, c_void, CStr};
    use std::os::unix::ffi::OsStrExt;

    #[repr(C)]
    struct DlInfo {
        dli_fname: *const c_char,
        dli_fbase: *mut c_void,
        dli_sname: *const c_char,
        dli_saddr: *mut c_void,
    }
    extern "C" {
        fn dladdr(addr: *const c_void, info: *mut DlInfo) -> c_int;
    }
    let mut info = DlInfo {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    };
    // SAFETY: dladdr only reads the address (one of our own functions) and fills `info`; the
    // file name it returns stays valid while the object is loaded, and is copied at once.
    let found = unsafe { dladdr(this_library_dir as *const c_void, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return None;
    }
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    let path = Path::new(std::ffi::OsStr::from_bytes(name.to_bytes()));
    path.canonicalize()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
}

#[cfg(not(unix))]
fn this_library_dir() -> Option<PathBuf> {
    None
}

fn create_environment(
    chosen: Option<&Path>,
) -> std::result::Result<(Environment, PathBuf), String> {
    let tried = candidates(chosen);
    let Some(path) = tried.iter().find(|p| p.is_file()) else {
        let list: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
        return Err(format!(
            "the ONNX Runtime library was not found (looked at: {}). Run `scripts/setup.sh`, \
             or set ORT_DYLIB_PATH to a libonnxruntime 1.31+ (e.g. from `pip install onnxruntime`)",
            list.join(", ")
        ));
    };
    let builder = ort::init_from(path)
        .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", path.display()))?;
    let env = builder
        .with_name("padir")
        .with_telemetry(false)
        .build()
        .map_err(|e| format!("cannot start ONNX Runtime from {}: {e}", path.display()))?;
    Ok((env, path.clone()))
}

/// The process-wide ONNX Runtime environment (loaded on first use).
pub fn environment() -> Result<&'static Environment> {
    let chosen = CHOSEN.lock().unwrap_or_else(|e| e.into_inner());
    ENVIRONMENT
        .get_or_try_init(|| create_environment(chosen.as_deref()))
        .map(|(env, _)| env)
        .map_err(Error::runtime)
}

/// A session behind a lock: `ort` runs need `&mut Session`. See `Translator` for why one lock
/// per graph was chosen over a pool of sessions.
pub struct Graph {
    pub name: String,
    pub session: Mutex<Session>,
}

/// Open one graph file with the translator's options.
pub fn open_graph(name: &str, path: &Path, options: &TranslatorOptions) -> Result<Graph> {
    let env = environment()?;
    if !path.is_file() {
        return Err(Error::model(format!(
            "graph file {} is missing",
            path.display()
        )));
    }
    let mut builder = Session::builder(env)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(ort::Error::from)?
        .with_intra_op_spinning(options.spinning)
        .map_err(ort::Error::from)?;
    if options.intra_threads > 0 {
        builder = builder
            .with_intra_threads(options.intra_threads)
            .map_err(ort::Error::from)?;
    }
    if let Some(ep) = execution_provider(options)? {
        builder = builder.with_execution_providers([ep]).map_err(|e| {
            Error::runtime(format!(
                "execution provider {:?} failed to register: {e} (allow fallback to use the CPU instead)",
                options.execution_provider
            ))
        })?;
    }
    let session = builder
        .commit_from_file(path)
        .map_err(|e| Error::model(format!("cannot load graph {}: {e}", path.display())))?;
    Ok(Graph {
        name: name.to_string(),
        session: Mutex::new(session),
    })
}

/// The `ort` dispatch for a non-CPU provider: an error on failure unless fallback is allowed.
fn execution_provider(
    options: &TranslatorOptions,
) -> Result<Option<ort::ep::ExecutionProviderDispatch>> {
    let dispatch: Option<ort::ep::ExecutionProviderDispatch> = match options.execution_provider {
        ExecutionProvider::Cpu => None,
        #[cfg(feature = "cuda")]
        ExecutionProvider::Cuda => Some(ort::ep::CUDA::default().build()),
        #[cfg(feature = "coreml")]
        ExecutionProvider::CoreMl => Some(ort::ep::CoreML::default().build()),
        #[allow(unreachable_patterns)]
        _ if options.allow_fallback => None,
        #[allow(unreachable_patterns)]
        other => return Err(not_compiled_in(other)),
    };
    Ok(dispatch.map(|d| {
        if options.allow_fallback {
            d.fail_silently()
        } else {
            d.error_on_failure()
        }
    }))
}

fn not_compiled_in(provider: ExecutionProvider) -> Error {
    Error::invalid(format!(
        "execution provider {provider:?} is not compiled in: rebuild padir with `--features {}`, or allow fallback to the CPU",
        provider.cargo_feature()
    ))
}
