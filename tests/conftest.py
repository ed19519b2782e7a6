import os
import sys
from pathlib import Path

# Before torch loads OpenMP: spinning OpenMP workers make small CPU steps many times slower when the
# two cores are shared with other processes.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# "auto" compile settings run eagerly in tests (a compile costs tens of seconds); test_compiled.py asks for it.
os.environ["STREAMDIT_COMPILE"] = "off"

import pytest  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))  # tests/motion.py and other helpers
torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture
def rng() -> torch.Generator:
    return torch.Generator().manual_seed(0)
