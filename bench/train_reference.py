#!/usr/bin/env python3
"""Reference trainer: the tutorial CNN with augmentation as a typical PyTorch user writes it.

torch DataLoader with worker processes, torchvision v2 RandomAffine + flips on the CPU per sample,
batch 32, Adam(1e-3, eps=1e-7), BCE. Reads the arrays `catdog unpack` writes (x_train.npy uint8
[N,S,S], y_train.npy uint8 [N], same for val), so it trains on exactly the pack catdog trains on.

    python3 bench/train_reference.py --data DIR --epochs 3 --json out.json

Prints one line per epoch and writes {"images_per_s": ..., "val_accuracy": ...} to --json. This is
the baseline `catdog train` is compared against; it is not part of the product.
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2


class PackArrays(Dataset):
    def __init__(self, x, y, transform=None):
        self.x = torch.from_numpy(x).unsqueeze(1)  # N,1,S,S uint8
        self.y = torch.from_numpy(y.astype(np.float32))
        self.transform = transform

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        img = self.x[i].float().div_(255.0)
        if self.transform is not None:
            img = self.transform(img)
        return img, self.y[i]


def tutorial_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(128 * 10 * 10, 100), nn.ReLU(), nn.Linear(100, 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    x_tr = np.load(f"{args.data}/x_train.npy"); y_tr = np.load(f"{args.data}/y_train.npy")
    x_va = np.load(f"{args.data}/x_val.npy"); y_va = np.load(f"{args.data}/y_val.npy")
    aug = v2.Compose([
        v2.RandomAffine(degrees=30, translate=(0.2, 0.2), scale=(0.7, 1.4), shear=15),
        v2.RandomHorizontalFlip(), v2.RandomVerticalFlip()])
    train = DataLoader(PackArrays(x_tr, y_tr, aug), batch_size=args.batch, shuffle=True,
                       num_workers=args.workers, pin_memory=True, persistent_workers=True, drop_last=False)
    val = DataLoader(PackArrays(x_va, y_va), batch_size=256, shuffle=False, num_workers=2)

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    model = tutorial_cnn().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.BCEWithLogitsLoss()
    rates = []
    val_acc = 0.0
    for epoch in range(args.epochs):
        model.train()
        t0 = time.perf_counter(); n = 0
        for xb, yb in train:
            xb = xb.to(dev, non_blocking=True); yb = yb.to(dev, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb).squeeze(1), yb)
            loss.backward()
            opt.step()
            n += xb.shape[0]
        if dev.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        rates.append(n / dt)
        model.eval(); correct = 0; total = 0
        with torch.no_grad():
            for xb, yb in val:
                p = model(xb.to(dev)).squeeze(1) > 0
                correct += (p.float().cpu() == yb).sum().item(); total += len(yb)
        val_acc = correct / max(total, 1)
        print(f"epoch {epoch + 1}: {n} images in {dt:.2f} s = {n / dt:.0f} images/s, val_accuracy {val_acc:.4f}", flush=True)
    # The first epoch includes worker start-up; report the best steady epoch too.
    result = {"engine": "pytorch-reference", "batch": args.batch, "workers": args.workers,
              "epochs": args.epochs, "images_per_s_epochs": rates,
              "images_per_s": max(rates[1:] or rates), "val_accuracy": val_acc,
              "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
              "torch": torch.__version__}
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
