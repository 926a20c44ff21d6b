#!/usr/bin/env python3
"""The federation of a FedSim topology in Flower's simulation engine with PyTorch clients.

Reads what `fedsim export TOPOLOGY --clients 0-N --out DIR` wrote — each client's shard (the same
data and partition FedSim trains on), the task, the local training and the optimizer — and runs
it with `flwr.simulation.start_simulation`: FedAvg, the topology's clients per round, its rounds,
one fresh torch.optim optimizer per fit (FedSim's `state: reset`), and the global model evaluated
on the Fashion-MNIST test set after every round, normalized with the training images' mean and
standard deviation as FedSim's `normalize: true` does. Prints one line with the final test
accuracy; `Scripts/bench-flower.sh` times it and measures its memory.

    python bench_flower.py --federation DIR --model lenet5 --rounds 50 --per-round 10
"""
import argparse
import gzip
import json
import os
import struct
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

import flwr as fl  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def model(name, classes):
    """FedSim's presets (docs/TOPOLOGY.md) as torch modules."""
    if name == "lenet5":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, classes))
    if name == "fedavg-cnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(64 * 7 * 7, 512), nn.ReLU(), nn.Linear(512, classes))
    sys.exit("error: --model must be lenet5 or fedavg-cnn")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--federation", required=True, help="a directory `fedsim export` wrote")
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("--per-round", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with open(os.path.join(args.federation, "federation.json")) as f:
        federation = json.load(f)
    clients = federation["clients"]
    classes = federation["classes"]
    shape = federation["sample_shape"]
    epochs = federation.get("epochs") or 1
    first = clients[0]
    optimizer = first["optimizer"]
    batch = first.get("batch_size") or federation.get("batch_size") or 32

    train = read_idx(f"{FASHION}/train-images-idx3-ubyte.gz").astype(np.float32) / 255
    mean, std = float(train.mean()), float(train.std())
    test_x = (read_idx(f"{FASHION}/t10k-images-idx3-ubyte.gz").astype(np.float32) / 255 - mean) / std
    test_x = torch.from_numpy(test_x.reshape(-1, *shape))
    test_y = torch.from_numpy(read_idx(f"{FASHION}/t10k-labels-idx1-ubyte.gz").astype(np.int64))

    def weights_of(net):
        return [v.detach().cpu().numpy() for v in net.state_dict().values()]

    def load(net, weights):
        net.load_state_dict({k: torch.from_numpy(np.array(w)) for k, w in zip(net.state_dict().keys(), weights)})

    class Client(fl.client.NumPyClient):
        def __init__(self, entry):
            self.x = torch.from_numpy(np.load(os.path.join(args.federation, entry["features"])).reshape(-1, *shape))
            self.y = torch.from_numpy(np.load(os.path.join(args.federation, entry["targets"])).astype(np.int64))
            self.net = model(args.model, classes)

        def fit(self, parameters, config):
            load(self.net, parameters)
            self.net.train()
            if optimizer["name"] == "adamw":
                opt = torch.optim.AdamW(self.net.parameters(), lr=optimizer["lr"], weight_decay=optimizer["weight_decay"])
            else:
                opt = torch.optim.Adam(self.net.parameters(), lr=optimizer["lr"], weight_decay=optimizer["weight_decay"])
            loss_fn = nn.CrossEntropyLoss()
            for _ in range(epochs):
                order = torch.randperm(len(self.y))
                for start in range(0, len(order), batch):
                    idx = order[start : start + batch]
                    opt.zero_grad()
                    loss_fn(self.net(self.x[idx]), self.y[idx]).backward()
                    opt.step()
            return weights_of(self.net), len(self.y), {}

    def client_fn(cid):
        return Client(clients[int(cid)]).to_client()

    evaluator = model(args.model, classes)
    accuracies = []

    def evaluate(server_round, parameters, config):
        load(evaluator, parameters)
        evaluator.eval()
        with torch.no_grad():
            correct = sum(
                (evaluator(test_x[i : i + 1000]).argmax(1) == test_y[i : i + 1000]).sum().item()
                for i in range(0, len(test_y), 1000))
        accuracies.append(correct / len(test_y))
        return 0.0, {"accuracy": accuracies[-1]}

    torch.manual_seed(args.seed)
    initial = fl.common.ndarrays_to_parameters(weights_of(model(args.model, classes)))
    fraction = args.per_round / len(clients)
    strategy = fl.server.strategy.FedAvg(
        fraction_fit=fraction, min_fit_clients=args.per_round, min_available_clients=len(clients),
        fraction_evaluate=0.0, min_evaluate_clients=0, evaluate_fn=evaluate, initial_parameters=initial)
    fl.simulation.start_simulation(
        client_fn=client_fn, num_clients=len(clients), config=fl.server.ServerConfig(num_rounds=args.rounds),
        strategy=strategy, client_resources={"num_cpus": 1, "num_gpus": 0.0},
        ray_init_args={"include_dashboard": False, "num_cpus": os.cpu_count(), "logging_level": "ERROR"})
    print(f"flower final test accuracy {accuracies[-1]:.4f} after {args.rounds} rounds"
          f" (after 10: {accuracies[min(10, len(accuracies) - 1)]:.4f})")


if __name__ == "__main__":
    main()
