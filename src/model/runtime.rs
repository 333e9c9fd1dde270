//! Loading the ONNX Runtime library and opening sessions with the chosen execution provider.
//!
//! ONNX Runtime is loaded at run time (`ort`'s `load-dynamic`), never downloaded: from
//! `ORT_DYLIB_PATH`, else next to the executable, else where `scripts/setup.sh` put it
//! (`<repo>/.ort/`). ONNX Runtime allows one environment per process, so it is created once.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use once_cell::sync::OnceCell;
use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;

use crate::error::{Error, Result};
use crate::options::{ExecutionProvider, TranslatorOptions};

static ENVIRONMENT: OnceCell<std::result::Result<Environment, String>> = OnceCell::new();

fn library_name() -> String {
    format!(
        "{}onnxruntime{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// Where the ONNX Runtime library is looked for, in order.
fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        out.push(PathBuf::from(p));
        return out; // an explicit choice is never second-guessed
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        out.push(dir.join(library_name()));
    }
    out.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(".ort")
            .join(library_name()),
    );
    out
}

fn create_environment() -> std::result::Result<Environment, String> {
    let tried = candidates();
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
    builder
        .with_name("padir")
        .build()
        .map_err(|e| format!("cannot start ONNX Runtime from {}: {e}", path.display()))
}

/// The process-wide ONNX Runtime environment (loaded on first use).
pub fn environment() -> Result<&'static Environment> {
    ENVIRONMENT
        .get_or_init(create_environment)
        .as_ref()
        .map_err(|e| Error::runtime(e.clone()))
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
