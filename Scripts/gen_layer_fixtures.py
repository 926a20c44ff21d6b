#!/usr/bin/env python3
"""Generate PyTorch reference values for FedSim's layers (Tests/FedModelsTests).

For each case, a small network of layers (written as FedSim's topology spells them) is built
in PyTorch (float32, CPU, one thread) with random parameters, run forward on a random batch,
and back-propagated with a random output gradient g: ``(net(x) * g).sum().backward()``. The
fixture records the parameters (PyTorch's layouts, weight then bias per layer), input, g,
output, input gradient and parameter gradients. The Swift test runs the same numbers through
``Network.forwardAndBackward`` and compares within float32 tolerance.

Trajectories: the ``fedavg-cnn`` and ``lenet5`` presets (layer lists written here and compared
with FedSim's presets by the test) take a few AdamW steps on one fixed batch. Parameters and
inputs come from a 32-bit LCG that both sides compute exactly (so no 1.6M-parameter tensor is
stored); the fixture keeps every step's loss and a strided sample of the final parameters.

Usage (from the repository root; CI does not need torch):

    python3 -m venv .venv && .venv/bin/pip install torch numpy && \\
        .venv/bin/python Scripts/gen_layer_fixtures.py
"""

import argparse
import json
import os
import zlib

import numpy as np
import torch

torch.set_num_threads(1)
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUTPUT = os.path.join(REPO_ROOT, "Tests", "FedModelsTests", "Fixtures", "torch_layers.json")
BASE_SEED = 20261201

# (name, input shape [C, H, W] or [D], batch rows, layers as in a topology's model.layers)
CASES = [
    ("conv3x3", [2, 7, 7], 2, [{"layer": "conv2d", "channels": 3, "kernel": 3}]),
    ("conv3x3 stride 2 padding 1", [2, 7, 7], 3,
     [{"layer": "conv2d", "channels": 4, "kernel": 3, "stride": 2, "padding": 1}]),
    ("conv5x5 padding 2", [1, 9, 9], 2, [{"layer": "conv2d", "channels": 4, "kernel": 5, "padding": 2}]),
    ("conv1x1 no bias", [3, 4, 5], 2, [{"layer": "conv2d", "channels": 2, "kernel": 1, "bias": False}]),
    ("conv non-square stride 3 padding 2", [2, 8, 6], 2,
     [{"layer": "conv2d", "channels": 3, "kernel": 3, "stride": 3, "padding": 2}]),
    ("conv kernel = input", [2, 4, 4], 2, [{"layer": "conv2d", "channels": 5, "kernel": 4}]),
    ("maxpool 2", [3, 6, 6], 2, [{"layer": "maxpool2d", "kernel": 2}]),
    ("maxpool 3 stride 2", [2, 7, 7], 2, [{"layer": "maxpool2d", "kernel": 3, "stride": 2}]),
    ("maxpool 3 stride 1 (overlapping)", [2, 5, 5], 2, [{"layer": "maxpool2d", "kernel": 3, "stride": 1}]),
    ("avgpool 2", [3, 6, 6], 2, [{"layer": "avgpool2d", "kernel": 2}]),
    ("avgpool 3 stride 1 (overlapping)", [2, 5, 7], 2, [{"layer": "avgpool2d", "kernel": 3, "stride": 1}]),
    ("relu", [2, 3, 3], 2, ["relu"]),
    ("flatten then dense", [2, 3, 3], 3, ["flatten", {"layer": "dense", "units": 5}]),
    ("dense no bias", [7], 4, [{"layer": "dense", "units": 3, "bias": False}]),
    ("group_norm 2 groups", [4, 3, 5], 3, [{"layer": "group_norm", "groups": 2}]),
    ("group_norm 1 group on vectors", [6], 4, [{"layer": "group_norm", "groups": 1}]),
    ("group_norm one channel per group", [3, 4, 4], 2, [{"layer": "group_norm", "groups": 3}]),
    ("residual identity", [2, 5, 5], 2, [{"layer": "residual", "body": [
        {"layer": "conv2d", "channels": 2, "kernel": 3, "padding": 1}, "relu",
        {"layer": "conv2d", "channels": 2, "kernel": 3, "padding": 1, "bias": False}]}]),
    ("residual with projection", [2, 6, 6], 2, [{"layer": "residual", "body": [
        {"layer": "conv2d", "channels": 4, "kernel": 3, "stride": 2, "padding": 1, "bias": False},
        {"layer": "group_norm", "groups": 2}, "relu",
        {"layer": "conv2d", "channels": 4, "kernel": 3, "padding": 1, "bias": False},
        {"layer": "group_norm", "groups": 2}],
        "shortcut": [{"layer": "conv2d", "channels": 4, "kernel": 1, "stride": 2, "bias": False},
                     {"layer": "group_norm", "groups": 2}]}, "relu"]),
    ("group norms and both residual kinds", [2, 6, 6], 5, [
        {"layer": "conv2d", "channels": 4, "kernel": 3, "padding": 1, "bias": False},
        {"layer": "group_norm", "groups": 2}, "relu",
        {"layer": "residual", "body": [{"layer": "conv2d", "channels": 4, "kernel": 3, "padding": 1},
                                       {"layer": "group_norm", "groups": 4}]}, "relu",
        {"layer": "residual", "body": [{"layer": "conv2d", "channels": 6, "kernel": 3, "stride": 2, "padding": 1},
                                       "relu"],
         "shortcut": [{"layer": "conv2d", "channels": 6, "kernel": 1, "stride": 2},
                      {"layer": "group_norm", "groups": 3}]},
        "flatten", {"layer": "group_norm", "groups": 1}, {"layer": "dense", "units": 3}]),
    ("batch_norm on images", [3, 4, 5], 4, [{"layer": "batch_norm"}]),
    ("batch_norm on vectors", [5], 6, ["batch_norm"]),
    ("conv batch_norm relu", [2, 6, 6], 3, [{"layer": "conv2d", "channels": 4, "kernel": 3, "bias": False},
                                           "batch_norm", "relu"]),
    ("batch_norm in evaluation", [3, 4, 4], 2, ["batch_norm"], "eval"),
    ("conv relu maxpool conv avgpool", [1, 10, 10], 2, [
        {"layer": "conv2d", "channels": 3, "kernel": 3, "padding": 1}, "relu",
        {"layer": "maxpool2d", "kernel": 2},
        {"layer": "conv2d", "channels": 2, "kernel": 3}, {"layer": "avgpool2d", "kernel": 3}]),
]

PRESETS = {
    "fedavg-cnn": [
        {"layer": "conv2d", "channels": 32, "kernel": 5, "padding": 2}, "relu", {"layer": "maxpool2d", "kernel": 2},
        {"layer": "conv2d", "channels": 64, "kernel": 5, "padding": 2}, "relu", {"layer": "maxpool2d", "kernel": 2},
        "flatten", {"layer": "dense", "units": 512}, "relu", {"layer": "dense", "units": 10}],
    "lenet5": [
        {"layer": "conv2d", "channels": 6, "kernel": 5, "padding": 2}, "relu", {"layer": "maxpool2d", "kernel": 2},
        {"layer": "conv2d", "channels": 16, "kernel": 5}, "relu", {"layer": "maxpool2d", "kernel": 2},
        "flatten", {"layer": "dense", "units": 120}, "relu", {"layer": "dense", "units": 84}, "relu",
        {"layer": "dense", "units": 10}],
}
def conv(channels, kernel, stride=1):
    return {"layer": "conv2d", "channels": channels, "kernel": kernel, "stride": stride, "padding": kernel // 2,
            "bias": False}


def block(channels, stride, project):
    body = [conv(channels, 3, stride), {"layer": "group_norm", "groups": 2}, "relu", conv(channels, 3),
            {"layer": "group_norm", "groups": 2}]
    shortcut = [conv(channels, 1, stride), {"layer": "group_norm", "groups": 2}] if project else []
    layer = {"layer": "residual", "body": body}
    if shortcut:
        layer["shortcut"] = shortcut
    return [layer, "relu"]


PRESETS["resnet8-gn"] = ([conv(16, 3), {"layer": "group_norm", "groups": 2}, "relu"] + block(16, 1, False)
                         + block(32, 2, True) + block(64, 2, True)
                         + [{"layer": "avgpool2d", "kernel": 7, "stride": 7}, "flatten", {"layer": "dense", "units": 10}])
TRAJECTORIES = [("fedavg-cnn", 4, 3, 1009), ("lenet5", 8, 5, 13), ("resnet8-gn", 4, 3, 7)]


class Residual(torch.nn.Module):
    """body(x) + shortcut(x), the shortcut the identity when empty (FedSim's `residual`)."""

    def __init__(self, body, shortcut):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        out = self.body(x)
        return out + (self.shortcut(x) if self.shortcut is not None else x)  # (preset, batch, AdamW steps, sample stride)


def build(input_shape, layers):
    """nn.Sequential for FedSim layer specs, and the shape after each layer."""
    modules, shape = [], list(input_shape)
    for spec in layers:
        kind = spec if isinstance(spec, str) else spec["layer"]
        if kind == "conv2d":
            k, s, p = spec["kernel"], spec.get("stride", 1), spec.get("padding", 0)
            m = torch.nn.Conv2d(shape[0], spec["channels"], k, stride=s, padding=p, bias=spec.get("bias", True))
            shape = [spec["channels"], (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1]
        elif kind in ("maxpool2d", "avgpool2d"):
            k = spec["kernel"]
            s = spec.get("stride", k)
            m = (torch.nn.MaxPool2d if kind == "maxpool2d" else torch.nn.AvgPool2d)(k, stride=s)
            shape = [shape[0], (shape[1] - k) // s + 1, (shape[2] - k) // s + 1]
        elif kind == "dense":
            m = torch.nn.Linear(shape[0], spec["units"], bias=spec.get("bias", True))
            shape = [spec["units"]]
        elif kind == "relu":
            m = torch.nn.ReLU()
        elif kind == "flatten":
            m = torch.nn.Flatten()
            shape = [int(np.prod(shape))]
        elif kind == "group_norm":
            m = torch.nn.GroupNorm(spec["groups"], shape[0])
        elif kind == "batch_norm":
            m = (torch.nn.BatchNorm2d if len(shape) == 3 else torch.nn.BatchNorm1d)(shape[0])
        elif kind == "residual":
            body, out_shape = build(shape, spec["body"])
            shortcut = build(shape, spec["shortcut"])[0] if spec.get("shortcut") else None
            m = Residual(body, shortcut)
            shape = out_shape
        else:
            raise ValueError(kind)
        modules.append(m)
    return torch.nn.Sequential(*modules), shape


def flat(tensors):
    return [float(v) for t in tensors for v in t.detach().reshape(-1).tolist()]


def state(net):
    """Parameters and batch-norm running statistics in state_dict order (FedSim's buffer)."""
    return [v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")]


def state_grads(net):
    """Each state tensor's gradient; zeros for running statistics, which have none."""
    grads = {name: p.grad for name, p in net.named_parameters()}
    return [grads.get(k, torch.zeros_like(v)) for k, v in net.state_dict().items()
            if not k.endswith("num_batches_tracked")]


def layer_case(name, input_shape, rows, layers, mode="train"):
    rng = np.random.default_rng(BASE_SEED + zlib.crc32(name.encode()))
    net, out_shape = build(input_shape, layers)
    with torch.no_grad():
        for key, p in net.state_dict().items():
            if key.endswith("num_batches_tracked"):
                continue
            values = rng.standard_normal(p.shape).astype(np.float32) * 0.5
            if isinstance(dict(net.named_modules())[key.rsplit(".", 1)[0]], (torch.nn.GroupNorm, torch.nn.BatchNorm1d,
                                                                             torch.nn.BatchNorm2d)):
                if key.endswith("weight"):
                    values += np.float32(1.0)
                if key.endswith("running_var"):
                    values = np.abs(values) + np.float32(0.5)
            p.copy_(torch.from_numpy(values))
    before = flat(state(net))
    x = torch.from_numpy(rng.standard_normal([rows] + input_shape).astype(np.float32)).requires_grad_(True)
    g = torch.from_numpy(rng.standard_normal([rows] + out_shape).astype(np.float32))
    if mode == "eval":
        net.eval()
    out = net(x)
    (out * g).sum().backward()
    return {
        "name": name, "input_shape": input_shape, "rows": rows, "layers": layers, "mode": mode,
        "params": before, "input": flat([x]), "output_grad": flat([g]),
        "output": flat([out]), "input_grad": flat([x.grad]), "param_grad": flat(state_grads(net)),
        "params_after": flat(state(net)),
    }


class LCG:
    """x ← 1664525·x + 1013904223 (mod 2³²); values (x >> 8)/2²⁴·2 − 1, exact in float32."""

    def __init__(self, seed):
        self.x = seed

    def values(self, n):
        out = np.empty(n, dtype=np.float32)
        x = self.x
        for i in range(n):
            x = (1664525 * x + 1013904223) & 0xFFFFFFFF
            out[i] = np.float32((x >> 8) / 16777216.0 * 2.0 - 1.0)
        self.x = x
        return out


def trajectory(preset, batch, steps, stride):
    layers = PRESETS[preset]
    net, _ = build([1, 28, 28], layers)
    lcg = LCG(12345)
    with torch.no_grad():
        for m in net.modules():  # in the order of the parameters; norms keep their 1 and 0
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = int(np.prod(m.weight.shape[1:]))
                bound = np.float32(1.0 / np.sqrt(fan_in))
                m.weight.copy_(torch.from_numpy((lcg.values(m.weight.numel()) * bound).reshape(m.weight.shape)))
                if m.bias is not None:
                    m.bias.copy_(torch.from_numpy(lcg.values(m.bias.numel()) * bound))
    images = (lcg.values(batch * 784) * np.float32(0.5) + np.float32(0.5)).reshape(batch, 1, 28, 28)
    x = torch.from_numpy(images)
    y = torch.tensor([i % 10 for i in range(batch)])
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.01)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        losses.append(float(loss.detach()))
        opt.step()
    final = np.concatenate([p.detach().reshape(-1).numpy() for p in net.parameters()])
    return {
        "preset": preset, "batch": batch, "steps": steps, "lcg_seed": 12345, "layers": layers,
        "losses": losses, "sample_stride": stride, "final_sample": [float(v) for v in final[::stride]],
        "final_sum": float(final.astype(np.float64).sum()), "parameters": int(final.size),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    fixture = {
        "generator": "Scripts/gen_layer_fixtures.py", "torch_version": torch.__version__,
        "cases": [layer_case(*c) for c in CASES],
        "trajectories": [trajectory(*t) for t in TRAJECTORIES],
    }
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {args.output}: {len(fixture['cases'])} layer cases, {len(fixture['trajectories'])} trajectories")


if __name__ == "__main__":
    main()
