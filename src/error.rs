//! The library's error type: one variant per kind of failure a caller can act on.

use std::fmt;

/// What went wrong, with a message meant for the person running the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The caller passed something unusable: an unknown option value, an input too long, ...
    InvalidArgument(String),
    /// The model directory is missing, incomplete or corrupt (manifest, graphs, tokenizer).
    Model(String),
    /// ONNX Runtime could not be loaded, an execution provider failed, or a graph run failed.
    Runtime(String),
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }
    pub(crate) fn model(msg: impl Into<String>) -> Self {
        Error::Model(msg.into())
    }
    pub(crate) fn runtime(msg: impl Into<String>) -> Self {
        Error::Runtime(msg.into())
    }
    /// The message without the kind prefix.
    pub fn message(&self) -> &str {
        match self {
            Error::InvalidArgument(m) | Error::Model(m) | Error::Runtime(m) => m,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::Model(m) => write!(f, "model error: {m}"),
            Error::Runtime(m) => write!(f, "runtime error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<ort::Error> for Error {
    fn from(e: ort::Error) -> Self {
        Error::Runtime(format!("ONNX Runtime: {e}"))
    }
}
