//! Regression benchmarks of the decode loops on `onnx/tiny`: PaDIR at several iteration counts
//! against AR greedy, batch 1 and batch 8. Run with `cargo bench --bench decode`.
//! (Speed claims for real models come from `padir bench`; see docs/BENCHMARKS.md.)

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use padir::{DecodeOptions, Mode, NarOptions, Translator, TranslatorOptions};

const SENTENCES: [&str; 8] = [
    "Open the file",
    "Cannot open file %s: permission denied.",
    "The installer will now partition your disk.",
    "Show hidden files",
    "Do you want to save the changes you made to this document?",
    "Print the current page",
    "No templates found!",
    "Select the network interface to configure.",
];

fn decode(c: &mut Criterion) {
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/onnx/tiny");
    let t = Translator::load(
        model,
        &TranslatorOptions {
            intra_threads: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let mut modes = vec![("ar".to_string(), Mode::Ar)];
    for i in [1, 2, 4, 8] {
        modes.push((
            format!("nar-i{i}"),
            Mode::Nar(NarOptions {
                iterations: Some(i),
                length_beam: Some(1),
                ..Default::default()
            }),
        ));
    }
    let mut group = c.benchmark_group("tiny");
    for (name, mode) in modes {
        for batch in [1, 8] {
            let options = DecodeOptions {
                mode: mode.clone(),
                max_length: None,
                batch_size: batch,
                // The decode loops alone (the tiny model's outputs would trigger fallbacks).
                protect: false,
                sentences: false,
            };
            group.bench_with_input(
                BenchmarkId::new(&name, format!("batch{batch}")),
                &options,
                |b, o| b.iter(|| t.translate(&SENTENCES, o).unwrap()),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
