"""A trainer in NumPy alone: FedSim's dense classifiers (`softmax`, `mlp`: linear layers with
ReLU between, softmax cross-entropy averaged over the batch), trained with SGD (weight decay
added to the gradient, as torch.optim.SGD does). Its state is nothing, so any state policy
holds. Batches follow FedSim's local training: E epochs of ⌈n / batch⌉ batches (or the fixed
steps), reshuffled at every pass, seeded by (train seed, client, round)."""

import numpy as np

from .client import Trainer, Update
from .federation import FederationError


class NumpyTrainer(Trainer):
    def __init__(self, federation, lr=None, weight_decay=None):
        if federation.task != "classification" or federation.meta["model_kind"] not in ("softmax", "mlp"):
            raise FederationError(
                f"NumpyTrainer trains dense classifiers (softmax, mlp); this run's model is "
                f"{federation.meta['model_kind']} on a {federation.task} task: use TorchTrainer")
        self.federation = federation
        self.lr = lr
        self.weight_decay = weight_decay
        layout = federation.layout
        if len(layout) % 2 or any(e["name"] != f"{k}.{'weight' if i % 2 == 0 else 'bias'}"
                                  for i, e in enumerate(layout) for k in [e["name"].split(".")[0]]):
            raise FederationError("NumpyTrainer needs (weight, bias) pairs of dense layers in the layout")
        self.layers = [(layout[i], layout[i + 1]) for i in range(0, len(layout), 2)]

    def _unpack(self, w):
        return [(w[a["offset"]:a["offset"] + a["shape"][0] * a["shape"][1]].reshape(a["shape"]),
                 w[b["offset"]:b["offset"] + b["shape"][0]]) for a, b in self.layers]

    def loss_and_gradient(self, w, x, y):
        """The batch's mean cross-entropy and its gradient with respect to the flat weights."""
        params = self._unpack(w)
        activations = [x.reshape(len(x), -1)]
        for i, (weight, bias) in enumerate(params):
            z = activations[-1] @ weight.T + bias
            activations.append(np.maximum(z, 0) if i < len(params) - 1 else z)
        logits = activations[-1]
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        n = len(x)
        loss = -log_probs[np.arange(n), y].mean()
        upstream = np.exp(log_probs)
        upstream[np.arange(n), y] -= 1
        upstream /= n
        gradient = np.zeros_like(w)
        for i in range(len(params) - 1, -1, -1):
            weight, _ = params[i]
            a, b = self.layers[i]
            gradient[a["offset"]:a["offset"] + weight.size] = (upstream.T @ activations[i]).ravel()
            gradient[b["offset"]:b["offset"] + weight.shape[0]] = upstream.sum(axis=0)
            if i > 0:
                upstream = (upstream @ weight) * (activations[i] > 0)
        return float(loss), gradient

    def train(self, client, round_, weights):
        f = self.federation
        lr = self.lr if self.lr is not None else client.optimizer["lr"]
        decay = self.weight_decay if self.weight_decay is not None else client.optimizer["weight_decay"]
        n = client.samples
        batch = n if f.batch_size == 0 else min(f.batch_size, n)
        steps = f.local_steps(n)
        rng = np.random.default_rng([f.train_seed, client.id, round_])
        w = weights.astype(np.float32).copy()
        x = client.features.astype(np.float32)
        y = client.targets.astype(np.int64)
        order = np.arange(n)
        position = n
        losses = []
        for _ in range(steps):
            if position >= n:
                order = rng.permutation(n) if batch < n else np.arange(n)
                position = 0
            idx = order[position:position + batch]
            loss, g = self.loss_and_gradient(w, x[idx], y[idx])
            w = (w - np.float32(lr) * (g + np.float32(decay) * w)).astype(np.float32)
            losses.append((loss, len(idx)))
            position += len(idx)
        mean = sum(l * k for l, k in losses) / max(1, sum(k for _, k in losses))
        return Update(delta=w - weights, samples=n, steps=steps, loss=mean)
