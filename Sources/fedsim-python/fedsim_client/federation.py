"""`federation.json` and the shards `fedsim export` writes."""

import json
import os

import numpy as np


class FederationError(Exception):
    """A federation directory that cannot be used, with what and where."""


class ClientData:
    """One exported client: its id, shard, optimizer and state policy."""

    def __init__(self, entry, directory):
        self.id = int(entry["id"])
        self.samples = int(entry["samples"])
        self.optimizer = entry["optimizer"]
        self.state = entry["state"]
        path = os.path.join(directory, entry["features"])
        try:
            self.features = np.load(path)
            self.targets = np.load(os.path.join(directory, entry["targets"]))
        except (OSError, ValueError) as e:
            raise FederationError(f"{path}: {e}") from None
        if self.features.shape[0] != self.samples or self.targets.shape[0] != self.samples:
            raise FederationError(f"client {self.id}: the shard files do not hold {self.samples} samples")


class Federation:
    """What one run's coordinator expects of the exported clients."""

    def __init__(self, directory):
        path = os.path.join(directory, "federation.json")
        try:
            with open(path, encoding="utf-8") as f:
                meta = json.load(f)
        except OSError as e:
            raise FederationError(f"cannot read {path}: {e.strerror} (write it with fedsim export)") from None
        except ValueError as e:
            raise FederationError(f"{path}: not JSON: {e}") from None
        if meta.get("format") != "fedsim-federation 1":
            raise FederationError(f"{path}: not a FedSim federation (format {meta.get('format')!r})")
        self.directory = directory
        self.meta = meta
        self.name = meta["name"]
        self.fingerprint = int(meta["fingerprint"], 16)
        self.parameter_count = int(meta["parameter_count"])
        self.layout = meta["layout"]
        self.task = meta["task"]
        self.classes = meta.get("classes")
        self.sample_shape = meta["sample_shape"]
        self.epochs = meta.get("epochs")
        self.steps = meta.get("steps")
        self.batch_size = int(meta["batch_size"])
        self.train_seed = int(meta["train_seed"])
        self.heartbeat_interval = float(meta["heartbeat_interval"])
        self.liveness = int(meta["liveness"])
        self.clients = {c.id: c for c in (ClientData(e, directory) for e in meta["clients"])}

    def ranges(self):
        """The hosted ids as (first, last) ranges, as HELLO sends them."""
        ids = sorted(self.clients)
        ranges = []
        for i in ids:
            if ranges and ranges[-1][1] == i - 1:
                ranges[-1][1] = i
            else:
                ranges.append([i, i])
        return [tuple(r) for r in ranges]

    def local_steps(self, samples):
        """Local optimizer steps per round: E epochs of ⌈n / batch⌉ batches, or the fixed steps."""
        batch = samples if self.batch_size == 0 else min(self.batch_size, samples)
        if self.steps is not None:
            return int(self.steps)
        return int(self.epochs) * ((samples + batch - 1) // batch)
