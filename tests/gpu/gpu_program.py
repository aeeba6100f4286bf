"""A trial that uses the GPU it was given (torch when present) and says what it saw on stderr."""

from __future__ import annotations

import json
import os
import sys

import sweepctl

seen = {"CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES")}
try:
    import torch

    seen["device_count"] = torch.cuda.device_count()
    seen["device_name"] = torch.cuda.get_device_name(0)
    a = torch.randn(2048, 2048, device="cuda")
    value = float((a @ a).abs().mean().item())
except ImportError:
    value = 1.0
print(json.dumps(seen), file=sys.stderr, flush=True)
sweepctl.report(step=1, loss=value * float(sweepctl.params()["scale"]))
