#!/usr/bin/env python3
"""Data-parallel training of a small CNN on Fashion-MNIST with plain PyTorch DDP.

An ordinary torch.distributed script: it reads RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT from
the environment (as torchrun sets them, and as a workload manager sets them for a gang job), joins
a "gloo" process group (or "nccl" when CUDA is available), shards the data with
DistributedSampler and wraps the model in DistributedDataParallel. Without those variables it
trains as a single process.

The network is PyTorch's MNIST example: conv 1->32 3x3, ReLU, conv 32->64 3x3, ReLU, max-pool 2,
dropout 0.25, flatten (9216), linear 128, ReLU, dropout 0.5, linear 10, log-softmax.
The dataset is read straight from the MNIST-format .gz (or raw) files with gzip + numpy, so
torchvision is not needed.

    torchrun --nproc_per_node 2 ddp_fashion_mnist.py --epochs 1
    RANK=0 WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 python3 ddp_fashion_mnist.py --max-steps 50

Prints "MUSTER_PROGRESS done=<step> total=<steps> epoch=<e> loss=<l> samples_per_s=<s>" lines
(rank 0), which muster shows as a progress bar; any other launcher just sees log lines.
"""
import argparse
import gzip
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


def open_idx(directory, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return gzip.open(path, "rb") if name.endswith(".gz") else open(path, "rb")
    sys.exit(f"ddp_fashion_mnist: {os.path.join(directory, stem)}[.gz] not found (use --data DIR)")


def read_split(directory, split):
    with open_idx(directory, f"{split}-images-idx3-ubyte") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 0x803:
            sys.exit(f"ddp_fashion_mnist: {split} images: bad magic {magic:#010x}")
        images = np.frombuffer(f.read(n * rows * cols), dtype=np.uint8)
        if images.size != n * rows * cols:
            sys.exit(f"ddp_fashion_mnist: {split} images: truncated")
    with open_idx(directory, f"{split}-labels-idx1-ubyte") as f:
        magic, m = struct.unpack(">II", f.read(8))
        if magic != 0x801 or m != n:
            sys.exit(f"ddp_fashion_mnist: {split} labels: bad header")
        labels = np.frombuffer(f.read(m), dtype=np.uint8)
    x = torch.from_numpy(images.reshape(n, 1, rows, cols).astype(np.float32) / 255.0)
    return x, torch.from_numpy(labels.astype(np.int64))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: no limit)")
    p.add_argument("--batch-size", type=int, default=64, help="per process")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--limit-test", type=int, default=0)
    args = p.parse_args()

    distributed = "WORLD_SIZE" in os.environ
    if distributed:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)  # env:// rendezvous: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
        rank, world = dist.get_rank(), dist.get_world_size()
    else:
        rank, world = 0, 1
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    torch.manual_seed(args.seed)

    x, y = read_split(args.data, "train")
    mean, std = x.mean().item(), x.std().item()
    x = (x - mean) / std
    tx, ty = read_split(args.data, "t10k")
    if args.limit_test > 0:
        tx, ty = tx[: args.limit_test], ty[: args.limit_test]
    tx = (tx - mean) / std

    train = TensorDataset(x, y)
    sampler = DistributedSampler(train, num_replicas=world, rank=rank, shuffle=True, seed=args.seed,
                                 drop_last=True) if distributed else None
    loader = DataLoader(train, batch_size=args.batch_size, sampler=sampler, shuffle=sampler is None,
                        drop_last=True)
    model = Net().to(device)
    if distributed:
        model = DDP(model, device_ids=[local_rank] if device.type == "cuda" else None)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)

    total = len(loader) * args.epochs
    if args.max_steps > 0:
        total = min(total, args.max_steps)
    step, t_window, n_window = 0, time.time(), 0
    for epoch in range(args.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        model.train()
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            opt.zero_grad()
            loss = F.nll_loss(model(xb), yb)
            loss.backward()  # DDP all-reduces the gradients here
            opt.step()
            step += 1
            n_window += xb.size(0) * world
            if rank == 0 and (step % 10 == 0 or step == total):
                sps = n_window / max(time.time() - t_window, 1e-9)
                print(f"MUSTER_PROGRESS done={step} total={total} epoch={epoch + 1} "
                      f"loss={loss.item():.4f} samples_per_s={sps:.1f}", flush=True)
                t_window, n_window = time.time(), 0
            if step >= total:
                break
        if step >= total:
            break

    # Evaluate this rank's slice of the test set and sum over ranks.
    model.eval()
    with torch.no_grad():
        idx = torch.arange(rank, tx.size(0), world)
        out = model(tx[idx].to(device))
        sums = torch.tensor([F.nll_loss(out, ty[idx].to(device), reduction="sum").item(),
                             (out.argmax(1).cpu() == ty[idx]).sum().item()], dtype=torch.float64)
    if distributed:
        dist.all_reduce(sums)
    if rank == 0:
        n = tx.size(0)
        print(f"done: steps={step} world_size={world} test_loss={sums[0].item() / n:.4f} "
              f"test_accuracy={sums[1].item() / n:.4f}", flush=True)
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
