"""A PyTorch client for FedSim's quickstart (an MLP 64 → 32 → 10 on the 8×8 digits), with the
run's own optimizer from torch.optim (AdamW), each client keeping its state across rounds:

    python3 -m fedsim_client --federation DIR --connect ENDPOINT --trainer examples.torch_mlp:make_trainer
"""

import torch.nn as nn

from fedsim_client.torch_trainer import TorchTrainer


def make_trainer(federation):
    features = 1
    for size in federation.sample_shape:
        features *= size
    return TorchTrainer(
        federation,
        lambda: nn.Sequential(nn.Flatten(), nn.Linear(features, 32), nn.ReLU(), nn.Linear(32, federation.classes)))
