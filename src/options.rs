//! Options of a translator (how to run the graphs) and of one translation call (how to decode).

use crate::decode::{Acceptance, Init};

/// Where the graphs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExecutionProvider {
    #[default]
    Cpu,
    /// NVIDIA GPUs; needs the `cuda` cargo feature and an ONNX Runtime built with CUDA.
    Cuda,
    /// Apple Neural Engine / GPU; needs the `coreml` cargo feature (macOS, iOS).
    CoreMl,
}

impl ExecutionProvider {
    pub fn cargo_feature(self) -> &'static str {
        match self {
            ExecutionProvider::Cpu => "",
            ExecutionProvider::Cuda => "cuda",
            ExecutionProvider::CoreMl => "coreml",
        }
    }
}

impl std::str::FromStr for ExecutionProvider {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "cpu" => Ok(ExecutionProvider::Cpu),
            "cuda" => Ok(ExecutionProvider::Cuda),
            "coreml" => Ok(ExecutionProvider::CoreMl),
            _ => Err(crate::Error::invalid(format!(
                "unknown execution provider {s:?} (cpu, cuda, coreml)"
            ))),
        }
    }
}

/// Most intra-op threads a translator may start even when forced: each is an OS thread with its
/// own stack, and far more threads than cores only makes the machine thrash.
pub const MAX_FORCED_THREADS: usize = 256;

/// The logical cores of this machine (1 when the OS does not say).
pub fn machine_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// How a [`crate::Translator`] loads and runs its graphs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslatorOptions {
    /// Threads inside one graph run; 0 lets ONNX Runtime choose (one per physical core).
    /// At most the machine's logical cores, unless `force_threads` is set.
    pub intra_threads: usize,
    /// Allow `intra_threads` above the machine's cores (up to [`MAX_FORCED_THREADS`]), e.g. to
    /// measure oversubscription; off by default, so a typo cannot start 20,000 threads.
    pub force_threads: bool,
    pub execution_provider: ExecutionProvider,
    /// Run on the CPU when the requested provider cannot be used, instead of failing.
    pub allow_fallback: bool,
    /// Let idle ONNX Runtime threads spin: lower latency, but burns CPU (and battery) between calls.
    pub spinning: bool,
    /// Check every model file against the manifest's sha256 when loading.
    pub verify_checksums: bool,
}

impl TranslatorOptions {
    /// An error naming the limit when an option asks for more than the machine should give.
    pub fn check(&self) -> crate::Result<()> {
        let cores = machine_cores();
        let limit = if self.force_threads {
            MAX_FORCED_THREADS
        } else {
            cores
        };
        if self.intra_threads > limit {
            return Err(crate::Error::invalid(if self.force_threads {
                format!(
                    "{} threads is more than the {MAX_FORCED_THREADS} padir ever starts",
                    self.intra_threads
                )
            } else {
                format!(
                    "{} threads is more than this machine's {cores} cores \
                     (force it with force_threads / --force-threads, up to {MAX_FORCED_THREADS})",
                    self.intra_threads
                )
            }));
        }
        Ok(())
    }
}

impl Default for TranslatorOptions {
    fn default() -> Self {
        TranslatorOptions {
            intra_threads: 0,
            force_threads: false,
            execution_provider: ExecutionProvider::Cpu,
            allow_fallback: false,
            spinning: false,
            verify_checksums: true,
        }
    }
}

/// Settings of PaDIR decoding; `None` takes the model manifest's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NarOptions {
    /// Most refinement passes (a sentence stops earlier once a pass changes nothing).
    pub iterations: Option<usize>,
    /// Neighbouring lengths tried around each predicted length (1 = only the prediction).
    pub length_beam: Option<usize>,
    /// How many of the most likely predicted lengths are tried.
    pub top_lengths: Option<usize>,
    pub init: Option<Init>,
    pub acceptance: Option<Acceptance>,
    /// Reject a token equal to its left neighbour, in every pass and in the output (fixes the
    /// "the the" stutter of parallel decoding).
    pub remask_stutter: Option<bool>,
    /// Seed of `random` initialisation.
    pub seed: Option<u64>,
    /// After this many passes, refine only each sentence's best-scoring length (0 = refine all
    /// lengths to the end): fewer decoder rows in the later passes.
    pub prune_after: Option<usize>,
}

impl NarOptions {
    /// Each setting of `self`, or `fallback`'s where `self` has none.
    pub fn or(&self, fallback: &NarOptions) -> NarOptions {
        NarOptions {
            iterations: self.iterations.or(fallback.iterations),
            length_beam: self.length_beam.or(fallback.length_beam),
            top_lengths: self.top_lengths.or(fallback.top_lengths),
            init: self.init.or(fallback.init),
            acceptance: self.acceptance.or(fallback.acceptance),
            remask_stutter: self.remask_stutter.or(fallback.remask_stutter),
            seed: self.seed.or(fallback.seed),
            prune_after: self.prune_after.or(fallback.prune_after),
        }
    }
}

/// Which decoder to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Parallel decoding by iterative refinement (the fast path).
    Nar(NarOptions),
    /// Greedy autoregressive decoding with the AR teacher (the baseline).
    Ar,
    /// Draft-and-verify: exactly `Ar`'s output, in fewer teacher passes. PaDIR drafts each
    /// sentence with these settings (unset ones: [`VERIFY_DRAFT`], then the manifest's), the
    /// AR teacher checks each draft in one pass and keeps what it agrees with. Needs the
    /// model's AR graphs, as `Ar` does.
    Verify(NarOptions),
}

/// Draft settings of `Mode::Verify` where the caller sets none: a cheap draft pays, as the
/// teacher corrects it anyway (measured in docs/BENCHMARKS.md).
pub const VERIFY_DRAFT: NarOptions = NarOptions {
    iterations: Some(2),
    length_beam: Some(1),
    top_lengths: Some(1),
    init: None,
    acceptance: None,
    remask_stutter: None,
    seed: None,
    prune_after: None,
};

/// How one call to [`crate::Translator::translate`] decodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    pub mode: Mode,
    /// Most target tokens per sentence; `None` = the manifest's `max_target_len`.
    pub max_length: Option<usize>,
    /// Sentences decoded together in one batch (larger = more throughput, more memory).
    pub batch_size: usize,
    /// Protect placeholders and markup (`%s`, `{name}`, `<b>`, URLs, ...: see
    /// [`crate::text::protect`]) where the model's vocabulary has placeholder tokens; a
    /// PaDIR output that loses one is decoded again with the AR model.
    pub protect: bool,
    /// Translate each text sentence by sentence ([`crate::text::sentences`]) and join the
    /// translations with the original spacing; a sentence longer than the model reads is cut
    /// further. Off: each text is one piece, and one too long is an error.
    pub sentences: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            mode: Mode::Nar(NarOptions::default()),
            max_length: None,
            batch_size: 32,
            protect: true,
            sentences: true,
        }
    }
}

impl DecodeOptions {
    /// PaDIR decoding with the manifest's defaults.
    pub fn nar() -> Self {
        Self::default()
    }
    /// Greedy AR decoding.
    pub fn ar() -> Self {
        DecodeOptions {
            mode: Mode::Ar,
            ..Self::default()
        }
    }
    /// Draft-and-verify decoding with the default draft settings.
    pub fn verify() -> Self {
        DecodeOptions {
            mode: Mode::Verify(NarOptions::default()),
            ..Self::default()
        }
    }
}
