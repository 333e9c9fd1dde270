//! The committed C header must be what cbindgen generates from `src/capi.rs` today.
//! `PADIR_UPDATE_HEADER=1 cargo test --test header` rewrites it.

use std::path::Path;

#[test]
fn c_header_matches_the_rust_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/capi.rs"))
        .generate()
        .expect("cbindgen failed")
        .write(&mut generated);
    let generated = String::from_utf8(generated).unwrap();
    let path = root.join("bindings/c/padir.h");
    if std::env::var_os("PADIR_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "bindings/c/padir.h is out of date with src/capi.rs; run `PADIR_UPDATE_HEADER=1 cargo test --test header`"
    );
}
