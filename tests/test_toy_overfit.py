"""Toy overfit: a tiny StreamDiT trained for at most 3 minutes on CPU must stream the motion it is asked for.

The model is trained with buffered flow matching and mixed partitioning on one red square that moves left
or right along the centre line of a 16x16 torus, one pixel per frame. It then streams with c = 2 chunks;
motion is measured from the generated pixels (the best cyclic shift between consecutive frames). After a
prompt switch the direction of motion must flip within 2 buffer lengths.
"""

import numpy as np
import pytest

from runtime.model.config import DiTConfig
from runtime.pipeline import StreamDiTPipeline
from runtime.training.config import OptimConfig, PartitionConfig, SamplingDefaults, TrainConfig
from runtime.training.toy_eval import shifts
from runtime.training.trainer import Trainer

B = 8  # buffer frames


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> StreamDiTPipeline:
    out = tmp_path_factory.mktemp("overfit")
    cfg = TrainConfig(
        model=DiTConfig(in_channels=12, patch_size=1, hidden_size=64, depth=2, num_heads=2, window=(4, 8, 8)),
        data={"kind": "toy", "size": 16, "frames": B, "speed": 1, "radius": 3, "colors": ["red"],
              "shapes": ["square"], "directions": ["left", "right"], "center_cross_axis": True},
        autoencoder={"kind": "space_to_depth", "factor": 2, "shift": -0.75, "scale": 3.0},
        text_encoder={"kind": "hash"},
        optim=OptimConfig(steps=900, max_minutes=3.0, batch_size=16, lr=2e-3, warmup_steps=50, ema_decay=0.99,
                          checkpoint_every_steps=10**9, checkpoint_every_minutes=10**9, log_every=100),
        partition=PartitionConfig(buffer_frames=B), sampling=SamplingDefaults(c=2, s=8, guidance_scale=4.0),
        out=str(out))
    result = Trainer(cfg).run(progress=False)
    return StreamDiTPipeline.from_checkpoint(result.checkpoint)


@pytest.mark.parametrize("seed", [0, 1])
def test_streams_the_prompted_direction_and_flips_after_a_switch(trained, seed):
    n, switch = 12 * B, 6 * B
    video = trained.generate("a red square moves left", n, seed=seed, switch_at=switch,
                             prompt2="a red square moves right")
    dx = shifts(video)[:, 0]  # dx[i]: shift from frame i to i+1, pixels (positive = to the right)
    before = dx[B: switch - 1]  # after the first buffer, up to the switch
    after = dx[switch + 2 * B:]  # from 2 buffer lengths after the switch on
    # Net motion: the mean shift per frame (the true speed is 1 pixel per frame; an untrained model's is ~0).
    assert before.mean() < -0.3, f"expected leftward motion, dx = {before.tolist()}"
    assert after.mean() > 0.3, f"expected rightward motion after the switch, dx = {after.tolist()}"
    assert (before < 0).sum() > (before > 0).sum() and (after > 0).sum() > (after < 0).sum()
