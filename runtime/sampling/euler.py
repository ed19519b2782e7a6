"""Plain text-to-video Euler sampling of the flow-matching ODE (uniform noise: every frame at one level).

This is the reference the streaming sampler reduces to with c = B and s = T, and the pass whose
intermediate latents fill the moving buffer at startup (DESIGN.md section 4).
"""

from __future__ import annotations

import torch

from runtime.model.dit import StreamDiT


def guided_velocity(model: StreamDiT, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor,
                    text_mask: torch.Tensor, guidance_scale: float) -> torch.Tensor:
    """Velocity with classifier-free guidance: v_u + g * (v_c - v_u); one model call when g == 1.

    x: [B, C, F, H, W]; t: [B, F]; text: [B, L, D_text]; text_mask: [B, L] bool. The conditional and
    unconditional halves run as one batch of 2B. Returns float32 [B, C, F, H, W].
    """
    if guidance_scale == 1.0:
        return model(x, t, text, text_mask).float()
    B, L = text.shape[:2]
    null, _ = model.null_prompt(B)
    null_text = torch.zeros_like(text)
    null_text[:, :1] = null.to(text.dtype)
    null_mask = torch.zeros_like(text_mask)
    null_mask[:, 0] = True
    v = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([text, null_text]),
              torch.cat([text_mask, null_mask])).float()
    v_c, v_u = v.chunk(2)
    return v_u + guidance_scale * (v_c - v_u)


@torch.no_grad()
def euler_sample(model: StreamDiT, noise: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor,
                 steps: int, guidance_scale: float = 1.0, autocast_dtype: torch.dtype | None = None,
                 return_trajectory: bool = False) -> torch.Tensor | list[torch.Tensor]:
    """Integrate dx/dtau = v from tau = 0 (noise) to tau = 1 (data) in `steps` uniform Euler steps.

    noise: [B, C, F, H, W] float32 x0. Returns the final latent [B, C, F, H, W] float32, or with
    return_trajectory the list of steps+1 latents x_0 .. x_steps.
    """
    x = noise.float().clone()
    B, _, F = x.shape[:3]
    traj = [x.clone()]
    for k in range(steps):
        t = torch.full((B, F), k / steps, device=x.device)
        with torch.autocast(x.device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
            v = guided_velocity(model, x, t, text, text_mask, guidance_scale)
        x = x + v * (1.0 / steps)
        if return_trajectory:
            traj.append(x.clone())
    return traj if return_trajectory else x
