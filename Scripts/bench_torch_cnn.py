#!/usr/bin/env python3
"""PyTorch's side of Scripts/bench-cnn.sh: forward+backward of FedSim's conv presets on one
batch of 28×28×1 images, on one CPU thread, timed as `fedsim bench models` times FedSim.

Prints one line per preset: ``NAME SAMPLES_PER_SECOND MS_PER_BATCH``.
"""

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_layer_fixtures import PRESETS, build  # noqa: E402  (the same layer lists the fixtures use)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in ["fedavg-cnn", "lenet5", "resnet8-gn"]:
        net, _ = build([1, 28, 28], PRESETS[name])
        x = torch.rand(args.batch, 1, 28, 28)
        y = torch.arange(args.batch) % 10

        def step():
            net.zero_grad(set_to_none=False)
            torch.nn.functional.cross_entropy(net(x), y).backward()

        step()
        per_batch = []
        for _ in range(args.repeats):
            n, start = 0, time.perf_counter()
            while time.perf_counter() - start < 0.3:
                step()
                n += 1
            per_batch.append((time.perf_counter() - start) / n)
        median = sorted(per_batch)[len(per_batch) // 2]
        print(f"{name} {args.batch / median:.0f} {median * 1e3:.2f}")


if __name__ == "__main__":
    main()
