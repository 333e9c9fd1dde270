"""One training run: its config file, its working directory and the artefacts of each stage.

Artefacts (tokenised corpora, checkpoints, logs, distilled data) live outside git, in
`$PADIR_RUNS/<name>/` (default `~/.cache/padir/runs/<name>/`). Paths inside the config are
relative to the repository root.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import torch

from .config import ModelConfig, load_json
from .data import TokenizedCorpus, read_tsv
from .model import PadirModel
from .tokenizer import load_tokenizer, train_tokenizer

REPO_ROOT = Path(__file__).resolve().parents[2]


class Pipeline:
    def __init__(self, config_path: str | Path):
        self.config_path = Path(config_path)
        self.cfg = load_json(config_path)
        self.name = self.cfg["name"]
        self.model_cfg = ModelConfig.from_dict(self.cfg["model"])
        base = os.environ.get("PADIR_RUNS", str(Path.home() / ".cache" / "padir" / "runs"))
        self.runs = Path(base) / self.name
        self.runs.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return REPO_ROOT / self.cfg["data"][key]

    def log(self, stage: str, msg: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} [{stage}] {msg}"
        print(line, flush=True)
        with open(self.runs / f"{stage}.log", "a", encoding="utf-8") as f:
            f.write(line + "\n")

    # ---- tokenizer and corpora --------------------------------------------------------------
    @property
    def tokenizer_path(self) -> Path:
        return self.runs / "tokenizer.json"

    def tokenizer(self):
        tc = self.cfg["tokenizer"]
        packed = REPO_ROOT / tc["resume"] if tc.get("resume") else None
        if not self.tokenizer_path.exists() and packed is not None and packed.exists():
            # A run packed by `checkpoint.py` goes on with its own vocabulary.
            shutil.copy(packed, self.tokenizer_path)
        if not self.tokenizer_path.exists() and tc.get("from"):
            # A later training round keeps the vocabulary of the model it continues.
            shutil.copy(REPO_ROOT / tc["from"], self.tokenizer_path)
        if not self.tokenizer_path.exists():
            src, tgt = read_tsv(self.path("train"), limit=tc.get("train_pairs"))
            self.log("tokenizer", f"training BPE ({tc['vocab_size']} pieces) on {len(src)} pairs")
            train_tokenizer(
                src + tgt, tc["vocab_size"], self.tokenizer_path, tc.get("placeholders", False)
            )
        tok = load_tokenizer(self.tokenizer_path)
        if tok.get_vocab_size() != self.model_cfg.vocab_size:
            sys.exit(
                f"tokenizer has {tok.get_vocab_size()} pieces but model.vocab_size is "
                f"{self.model_cfg.vocab_size}: set them equal in {self.config_path}"
            )
        return tok

    def _corpus(self, key: str, tsv: Path, limit: int | None) -> TokenizedCorpus:
        cache = self.runs / f"{key}.npz"
        if not cache.exists():
            src, tgt = read_tsv(tsv, limit=limit)
            self.log("data", f"tokenising {len(src)} pairs of {tsv.name}")
            TokenizedCorpus.build(self.tokenizer(), src, tgt).save(cache)
        return TokenizedCorpus.load(cache)

    def train_corpus(self, stage: str) -> TokenizedCorpus:
        """What `stage` trains on: the distilled corpus where its config says `distilled` (the
        student's default), else the human translations."""
        if self.cfg[stage].get("distilled", stage == "student"):
            if not self.distilled_path.exists():
                sys.exit(
                    f"{self.distilled_path} is missing: run `python -m padir_export.distill "
                    f"--config {self.distill_config}` after its teacher"
                )
            return TokenizedCorpus.load(self.distilled_path)
        return self.human_corpus()

    def human_corpus(self) -> TokenizedCorpus:
        """The training pairs as people translated them (what a teacher distils from)."""
        return self._corpus("train", self.path("train"), self.cfg["data"].get("max_train_pairs"))

    def dev_corpus(self, stage: str) -> TokenizedCorpus:
        return self._corpus("dev", self.path("dev"), None)

    @property
    def distill_config(self) -> Path:
        """The config whose teacher distils this run's corpus: this one, or the run that
        `distill.from` names (a bigger teacher that only distils, `en-fr-big.json`)."""
        other = self.cfg.get("distill", {}).get("from")
        return REPO_ROOT / other if other else self.config_path

    @property
    def distilled_path(self) -> Path:
        """In the run directory of the config that distils (`distill_config`)."""
        other = self.cfg.get("distill", {}).get("from")
        name = load_json(REPO_ROOT / other)["name"] if other else self.name
        return self.runs.parent / name / "distilled.npz"

    # ---- models -------------------------------------------------------------------------------
    def new_model(self, causal: bool) -> PadirModel:
        return PadirModel(self.model_cfg, causal=causal)

    def init_path(self, stage: str) -> Path | None:
        """Hugging Face T5 directory a stage starts from (`<stage>.init`), if any."""
        init = self.cfg[stage].get("init")
        return REPO_ROOT / init if init else None

    def final_path(self, stage: str) -> Path:
        return self.runs / f"{stage}.pt"

    def save_final(self, stage: str, model: PadirModel, step: int | None = None) -> None:
        """The stage's final weights, with the step its training ended at."""
        torch.save(
            {"model": model.state_dict(), "model_config": self.model_cfg.to_dict(), "step": step},
            self.final_path(stage),
        )

    def teacher_state_dict(self) -> dict:
        return torch.load(self.final_path("teacher"), weights_only=False)["model"]

    def load_final(self, stage: str) -> PadirModel:
        ck = torch.load(self.final_path(stage), weights_only=False)
        model = PadirModel(ModelConfig.from_dict(ck["model_config"]), causal=(stage == "teacher"))
        model.load_state_dict(ck["model"])
        return model.eval()
