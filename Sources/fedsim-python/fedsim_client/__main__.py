"""`python -m fedsim_client --federation DIR --connect ENDPOINT`: host the clients that
`fedsim export` wrote into DIR in a FedSim run, until its coordinator ends it."""

import argparse
import importlib
import sys

from .client import Client
from .federation import Federation, FederationError
from .numpy_trainer import NumpyTrainer

EXAMPLES = """examples:
  fedsim export Topologies/quickstart.yaml --clients 8-9 --out runs/py-clients
  fedsim coordinator Topologies/quickstart.yaml --endpoint tcp://127.0.0.1:5555 --out runs/qs
  fedsim client Topologies/quickstart.yaml --clients 0-7 --connect tcp://127.0.0.1:5555
  python3 -m fedsim_client --federation runs/py-clients --connect tcp://127.0.0.1:5555
  python3 -m fedsim_client --federation runs/py-clients --connect tcp://127.0.0.1:5555 \\
      --trainer my_models:make_trainer     # def make_trainer(federation): return TorchTrainer(...)
"""


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="fedsim_client", description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--federation", required=True, help="the directory fedsim export wrote")
    parser.add_argument("--connect", required=True, help="the coordinator's endpoint (tcp://HOST:PORT, ipc://PATH)")
    parser.add_argument("--trainer", default="numpy",
                        help="numpy (dense classifiers, SGD) or MODULE:FUNCTION returning a trainer for the federation")
    parser.add_argument("--lr", type=float, help="the numpy trainer's learning rate (default: the run's)")
    parser.add_argument("--weight-decay", type=float, help="the numpy trainer's weight decay (default: the run's)")
    parser.add_argument("--record", help="write every task's weights and every update's delta into this directory")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    args = parser.parse_args(argv)
    try:
        federation = Federation(args.federation)
        if args.trainer == "numpy":
            trainer = NumpyTrainer(federation, lr=args.lr, weight_decay=args.weight_decay)
        else:
            module, _, function = args.trainer.partition(":")
            if not function:
                raise FederationError(f"--trainer {args.trainer}: expected numpy or MODULE:FUNCTION")
            trainer = getattr(importlib.import_module(module), function)(federation)
    except (FederationError, ImportError, AttributeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    log = (lambda _: None) if args.quiet else (lambda text: print(f"[fedsim_client] {text}", flush=True))
    try:
        return Client(federation, args.connect, trainer, log=log, record=args.record).run()
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
