"""Join a FedSim federation from Python.

`fedsim export TOPOLOGY --clients A-B --out DIR` writes what a client needs (the run
fingerprint, the parameter layout, the clients' shards); `Client` speaks FedSim's wire protocol
(docs/PROTOCOL.md) over a ZeroMQ DEALER socket and hands each task to a trainer:
`NumpyTrainer` (dense networks, SGD) or `TorchTrainer` (any torch.nn.Module whose parameters
match the layout by name and shape, with any torch.optim optimizer).
"""

from .federation import Federation, FederationError
from .protocol import ProtocolError
from .client import Client, Update, Trainer
from .numpy_trainer import NumpyTrainer

__all__ = ["Federation", "FederationError", "ProtocolError", "Client", "Update", "Trainer", "NumpyTrainer"]
