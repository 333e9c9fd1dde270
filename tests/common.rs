//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const TINY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/onnx/tiny");
/// The trained demo model (int8).
pub const EN_FR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/onnx/en-fr");

/// A fresh empty directory under the system temp dir (removed when dropped).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "padir-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// A copy of the tiny model to break on purpose.
    pub fn with_tiny_copy(tag: &str) -> TempDir {
        let t = TempDir::new(tag);
        for entry in std::fs::read_dir(TINY).unwrap() {
            let p = entry.unwrap().path();
            if p.is_file() {
                std::fs::copy(&p, t.0.join(p.file_name().unwrap())).unwrap();
            }
        }
        t
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
