"""A trainer for any torch.nn.Module whose parameters (and buffers such as batch norm's
running statistics) match the run's layout by name and shape. FedSim's `sequential` and `cnn`
models name their parameters as `nn.Sequential` does (`0.weight`, `3.bias`, `4.running_mean`);
its dense kinds (`softmax`, `mlp`) name them `layer0.weight`, `layer0.bias`, `layer1.weight`, …
counting dense layers only. Where no layout name is one of the module's, tensors are matched in
order (`named_parameters()`, then `named_buffers()`), each shape checked: `nn.Sequential(
nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))` serves `mlp` with `hidden: [32]`. Or pass
`rename={"layer0.weight": "0.weight", ...}`.

Each client keeps its own optimizer state across its rounds under the `persist` policy (the
optimizer's `state_dict`, in this process's memory) and starts afresh under `reset`."""

import numpy as np
import torch
import torch.nn.functional as F

from .client import Trainer, Update
from .federation import FederationError


def default_optimizer(params, spec):
    """FedSim's optimizer names on torch.optim: adamw → AdamW, adam_l2 → Adam with weight_decay
    (decay coupled into the gradient), adam, sgd; others need `make_optimizer`."""
    name, lr, wd = spec["name"], spec["lr"], spec["weight_decay"]
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name in ("adam", "adam_l2"):
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    raise FederationError(f"no torch.optim equivalent chosen for {name}: pass make_optimizer")


class TorchTrainer(Trainer):
    def __init__(self, federation, make_model, make_optimizer=default_optimizer, loss=F.cross_entropy, rename=None):
        self.federation = federation
        self.model = make_model()
        self.make_optimizer = make_optimizer
        self.loss = loss
        named = dict(self.model.named_parameters())
        named.update({k: v for k, v in self.model.named_buffers() if not k.endswith("num_batches_tracked")})
        rename = dict(rename or {})
        if not rename and not any(e["name"] in named for e in federation.layout):
            if len(named) != len(federation.layout):
                raise FederationError(f"the model has {len(named)} tensors, the run's layout "
                                      f"{len(federation.layout)}: {', '.join(e['name'] for e in federation.layout)}")
            rename = {e["name"]: k for e, k in zip(federation.layout, named)}
        self.tensors = []
        for entry in federation.layout:
            tensor = named.pop(rename.get(entry["name"], entry["name"]), None)
            if tensor is None:
                raise FederationError(f"the model has no parameter {entry['name']} (shape {entry['shape']}); "
                                      f"its names: {', '.join(dict(self.model.named_parameters()))}")
            if list(tensor.shape) != list(entry["shape"]):
                raise FederationError(f"{entry['name']}: the model's shape {list(tensor.shape)}, the run's "
                                      f"{entry['shape']}")
            self.tensors.append((entry, tensor))
        extra = list(named)
        if extra:
            raise FederationError(f"the model has parameters the run does not: {', '.join(extra)}")
        self.states = {}

    def _load(self, weights):
        with torch.no_grad():
            for entry, tensor in self.tensors:
                start = entry["offset"]
                tensor.copy_(torch.from_numpy(weights[start:start + tensor.numel()].reshape(entry["shape"])))

    def _flat(self):
        out = np.empty(self.federation.parameter_count, dtype=np.float32)
        for entry, tensor in self.tensors:
            out[entry["offset"]:entry["offset"] + tensor.numel()] = tensor.detach().reshape(-1).numpy()
        return out

    def train(self, client, round_, weights):
        f = self.federation
        self._load(weights)
        params = [t for e, t in self.tensors if t.requires_grad]
        optimizer = self.make_optimizer(params, client.optimizer)
        if client.state == "persist" and client.id in self.states:
            optimizer.load_state_dict(self.states[client.id])
        n = client.samples
        batch = n if f.batch_size == 0 else min(f.batch_size, n)
        generator = torch.Generator().manual_seed((f.train_seed * 1_000_003 + client.id) * 1_000_003 + round_)
        x = torch.from_numpy(client.features)
        y = torch.from_numpy(client.targets)
        self.model.train()
        total, count, position, order = 0.0, 0, n, None
        for _ in range(f.local_steps(n)):
            if position >= n:
                order = torch.randperm(n, generator=generator) if batch < n else torch.arange(n)
                position = 0
            idx = order[position:position + batch]
            optimizer.zero_grad()
            loss = self.loss(self.model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
            position += len(idx)
        if client.state == "persist":
            self.states[client.id] = optimizer.state_dict()
        return Update(delta=self._flat() - weights, samples=n, steps=f.local_steps(n), loss=total / max(1, count))
