"""A trial that keeps its GPU busy for `seconds` (matrix products in a loop) and holds ~2 GiB on it."""

from __future__ import annotations

import time

import torch

import sweepctl

seconds = float(sweepctl.params()["seconds"])
held = torch.empty(512 * 1024 * 1024, dtype=torch.float32, device="cuda")  # 2 GiB, visible as framebuffer used
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
end = time.monotonic() + seconds
step = 0
while time.monotonic() < end:
    for _ in range(20):
        a = torch.nn.functional.normalize(a @ a, dim=1).to(torch.bfloat16)
    torch.cuda.synchronize()
    step += 1
    sweepctl.report(step=step, loss=float(a.float().abs().mean()))
