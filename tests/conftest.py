import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # tests/motion.py and other helpers
torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture
def rng() -> torch.Generator:
    return torch.Generator().manual_seed(0)
