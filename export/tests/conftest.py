import logging
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "onnx" / "tiny"

# The dynamo exporter logs a warning per missing optional torchvision op; they are irrelevant.
logging.getLogger("torch.onnx").setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def tiny_dir() -> Path:
    return TINY
