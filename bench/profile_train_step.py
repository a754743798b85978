#!/usr/bin/env python3
"""Where the GPU time of one training step goes: the tutorial CNN with catdog's batched
augmentation (affine_grid + grid_sample), bf16 autocast, channels-last, Adam, at a given batch.
Prints torch.profiler's CUDA kernel table. A diagnostic for the fast mode (--fast), not a benchmark.

    python3 bench/profile_train_step.py --batch 1024 [--fp32] [--nchw]
"""
import argparse
import math

import torch
import torch.nn.functional as F

from train_reference import tutorial_cnn  # the same model as the reference trainer (bench/)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--fp32", action="store_true")
    ap.add_argument("--nchw", action="store_true")
    a = ap.parse_args()
    dev = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    model = tutorial_cnn().to(dev)
    fmt = torch.contiguous_format if a.nchw else torch.channels_last
    model = model.to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7, fused=True)
    data = torch.randint(0, 255, (20000, 1, 100, 100), dtype=torch.uint8, device=dev)
    y = torch.randint(0, 2, (20000,), device=dev).float()
    n = a.batch

    def step():
        idx = torch.randint(0, 20000, (n,), device=dev)
        x = data.index_select(0, idx).float().mul_(1 / 255)
        u = torch.rand(8, n, device=dev)
        rot = (u[0] * 2 - 1) * math.radians(30)
        theta = torch.stack([rot.cos() * u[4], -rot.sin(), u[1] * 0.4, rot.sin(), rot.cos() * u[5], u[2] * 0.4], 1).view(n, 2, 3)
        grid = F.affine_grid(theta, x.shape, align_corners=True)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
        x = x.contiguous(memory_format=fmt)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=not a.fp32):
            out = model(x).squeeze(1).float()
            loss = F.binary_cross_entropy_with_logits(out, y[idx])
        opt.zero_grad(set_to_none=False)
        loss.backward()
        opt.step()

    for _ in range(20):
        step()
    torch.cuda.synchronize()
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(10):
            step()
        torch.cuda.synchronize()
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=25, max_name_column_width=90))
    ev = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    ev[0].record()
    for _ in range(50):
        step()
    ev[1].record()
    torch.cuda.synchronize()
    ms = ev[0].elapsed_time(ev[1]) / 50
    print(f"batch {n}: {ms:.2f} ms/step, {n / ms * 1000:.0f} images/s (eager, no graph)")


if __name__ == "__main__":
    main()
