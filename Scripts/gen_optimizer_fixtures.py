#!/usr/bin/env python3
"""Generate reference optimizer trajectories for the FedOptim Swift tests.

Runs torch.optim (float32, CPU) on fixed, seeded gradient sequences and writes
``Tests/FedOptimTests/Fixtures/torch_optimizers.json``. The Swift tests replay
the same gradients through FedOptim and compare trajectories.

Usage (from the repository root):

    python3 -m venv .venv && .venv/bin/pip install torch && \
        .venv/bin/python Scripts/gen_optimizer_fixtures.py

Optional: ``--output PATH`` to write somewhere else.

Output format::

    {"generator": "Scripts/gen_optimizer_fixtures.py",
     "torch_version": "...",
     "cases": [{"name": ..., "spec": {...optimizer block...},
                "initial": [6 floats],
                "gradients": [[6 floats] x 30],
                "trajectory": [[6 floats] x 30],
                "lrs": [30 floats]}, ...]}

``trajectory[i]`` holds the parameters after optimizer step i+1 and ``lrs[i]``
the learning rate used for that step (informational; after scheduling).
``spec`` only contains keys that were set explicitly; every other setting uses
the defaults documented in ``DEFAULTS`` below (which mirror the Swift parser).

Per step the procedure is::

    p.grad = grads[i].clone()
    clip_grad_norm_([p], clip_norm)        # if "clip_norm" in spec
    opt.step()                             # + manual decay for adamw
                                           #   "independent"/"proximal"
    lookahead sync                         # if "lookahead" in spec
    sched.step()                           # if "schedule" in spec
    record p

The output is deterministic: the data for each case is drawn from a numpy
Generator seeded with a fixed base seed plus the CRC32 of the case name, so
adding or reordering cases does not change the data of the others.
"""

import argparse
import json
import os
import sys
import zlib

import numpy as np
import torch

BASE_SEED = 20240611
DIM = 6
STEPS = 30

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUTPUT = os.path.join(
    REPO_ROOT, "Tests", "FedOptimTests", "Fixtures", "torch_optimizers.json")

# Defaults per optimizer name (the Swift side uses the same defaults).
COMMON_ADAM = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
               "weight_decay": 0.0, "amsgrad": False}
DEFAULTS = {
    "sgd": {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "nesterov": False,
            "weight_decay": 0.0},
    "momentum": {"lr": 1e-3, "momentum": 0.9, "dampening": 0.0,
                 "nesterov": False, "weight_decay": 0.0},
    "nesterov": {"lr": 1e-3, "momentum": 0.9, "dampening": 0.0,
                 "nesterov": True, "weight_decay": 0.0},
    "adagrad": {"lr": 1e-2, "lr_decay": 0.0, "weight_decay": 0.0,
                "initial_accumulator": 0.0, "eps": 1e-10},
    "rmsprop": {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0,
                "momentum": 0.0, "centered": False},
    "adadelta": {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0},
    "adam": dict(COMMON_ADAM),
    "adam_l2": dict(COMMON_ADAM, weight_decay=0.01),
    "adamw": dict(COMMON_ADAM, weight_decay=0.01, decay_convention="lr_scaled"),
    "amsgrad": dict(COMMON_ADAM, amsgrad=True),
    "nadam": {"lr": 2e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
              "weight_decay": 0.0, "momentum_decay": 0.004},
    "radam": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
              "weight_decay": 0.0},
}


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------

def make_data(seed):
    """Return (initial[DIM], grads[STEPS, DIM]) as float32 numpy arrays."""
    rng = np.random.default_rng(seed)

    # Initial params with mixed magnitudes: ~±3, ~±0.01, ~±1, ~±0.1.
    init_mag = np.array([3.0, 3.0, 0.01, 0.01, 1.0, 0.1])
    signs = rng.choice([-1.0, 1.0], size=DIM)
    initial = (signs * init_mag * rng.uniform(0.5, 1.5, size=DIM)).astype(np.float32)

    # Gradients: per-coordinate scales, noise plus a persistent drift whose
    # sign flips half way through.
    scales = np.array([1e-3, 0.1, 1.0, 10.0, 0.1, 1.0])
    drift = rng.choice([-1.0, 1.0], size=DIM) * 0.5
    noise = rng.standard_normal((STEPS, DIM))
    grads = np.empty((STEPS, DIM))
    for t in range(STEPS):
        d = drift if t < STEPS // 2 else -drift
        grads[t] = (noise[t] + d) * scales

    # Exact sign flip of a whole step.
    grads[11] = -grads[10]
    grads[21] = -grads[20]
    # Exactly-zero gradient steps (whole vector) ...
    grads[4] = 0.0
    grads[17] = 0.0
    grads[18] = 0.0
    # ... and partially zero steps.
    grads[8, [0, 3]] = 0.0
    grads[25, :3] = 0.0

    return initial, grads.astype(np.float32)


# ---------------------------------------------------------------------------
# Optimizer construction
# ---------------------------------------------------------------------------

def resolve(spec):
    cfg = dict(DEFAULTS[spec["name"]])
    for key, value in spec.items():
        if key in ("name", "clip_norm", "schedule", "lookahead"):
            continue
        if key not in cfg:
            raise ValueError("key %r not valid for %s" % (key, spec["name"]))
        cfg[key] = value
    return cfg


def build_optimizer(spec, p):
    """Return (optimizer, manual_decay) where manual_decay is None,
    ("independent", lam) or ("proximal", lam)."""
    name = spec["name"]
    c = resolve(spec)
    betas = (c.get("beta1"), c.get("beta2"))
    if name in ("sgd", "momentum", "nesterov"):
        return torch.optim.SGD([p], lr=c["lr"], momentum=c["momentum"],
                               dampening=c["dampening"],
                               nesterov=c["nesterov"],
                               weight_decay=c["weight_decay"]), None
    if name == "adagrad":
        return torch.optim.Adagrad(
            [p], lr=c["lr"], lr_decay=c["lr_decay"],
            weight_decay=c["weight_decay"],
            initial_accumulator_value=c["initial_accumulator"],
            eps=c["eps"]), None
    if name == "rmsprop":
        return torch.optim.RMSprop(
            [p], lr=c["lr"], alpha=c["alpha"], eps=c["eps"],
            weight_decay=c["weight_decay"], momentum=c["momentum"],
            centered=c["centered"]), None
    if name == "adadelta":
        return torch.optim.Adadelta(
            [p], lr=c["lr"], rho=c["rho"], eps=c["eps"],
            weight_decay=c["weight_decay"]), None
    if name in ("adam", "adam_l2", "amsgrad"):
        return torch.optim.Adam(
            [p], lr=c["lr"], betas=betas, eps=c["eps"],
            weight_decay=c["weight_decay"], amsgrad=c["amsgrad"]), None
    if name == "adamw":
        conv = c["decay_convention"]
        if conv == "lr_scaled":
            return torch.optim.AdamW(
                [p], lr=c["lr"], betas=betas, eps=c["eps"],
                weight_decay=c["weight_decay"], amsgrad=c["amsgrad"]), None
        if conv in ("independent", "proximal"):
            opt = torch.optim.Adam(
                [p], lr=c["lr"], betas=betas, eps=c["eps"],
                weight_decay=0.0, amsgrad=c["amsgrad"])
            return opt, (conv, c["weight_decay"])
        raise ValueError("unknown decay_convention %r" % conv)
    if name == "nadam":
        return torch.optim.NAdam(
            [p], lr=c["lr"], betas=betas, eps=c["eps"],
            weight_decay=c["weight_decay"],
            momentum_decay=c["momentum_decay"]), None
    if name == "radam":
        return torch.optim.RAdam(
            [p], lr=c["lr"], betas=betas, eps=c["eps"],
            weight_decay=c["weight_decay"]), None
    raise ValueError("unknown optimizer %r" % name)


def build_scheduler(sched, opt):
    if sched is None:
        return None
    kind = sched["type"]
    S = torch.optim.lr_scheduler
    if kind == "constant":
        return None
    if kind == "step":
        return S.StepLR(opt, step_size=sched["step_size"], gamma=sched["gamma"])
    if kind == "cosine":
        return S.CosineAnnealingLR(opt, T_max=sched["t_max"],
                                   eta_min=sched.get("eta_min", 0.0))
    if kind == "linear_warmup":
        return S.LinearLR(opt, start_factor=sched.get("start_factor", 0.1),
                          end_factor=1.0, total_iters=sched["warmup_steps"])
    if kind == "warm_restarts":
        return S.CosineAnnealingWarmRestarts(
            opt, T_0=sched["t_0"], T_mult=sched.get("t_mult", 1),
            eta_min=sched.get("eta_min", 0.0))
    raise ValueError("unknown schedule %r" % kind)


# ---------------------------------------------------------------------------
# Running a case
# ---------------------------------------------------------------------------

def run_case(spec, initial, grads):
    p = torch.nn.Parameter(torch.tensor(initial, dtype=torch.float32))
    opt, manual_decay = build_optimizer(spec, p)
    sched = build_scheduler(spec.get("schedule"), opt)
    clip = spec.get("clip_norm")
    la = spec.get("lookahead")
    if la is not None:
        la_k, la_alpha = int(la["k"]), float(la["alpha"])
        slow = p.detach().clone()
        la_counter = 0

    g_all = torch.tensor(grads, dtype=torch.float32)
    trajectory, lrs = [], []
    for i in range(STEPS):
        p.grad = g_all[i].clone()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_([p], clip)
        lr_t = float(opt.param_groups[0]["lr"])
        lrs.append(lr_t)
        if manual_decay is None:
            opt.step()
        else:
            kind, lam = manual_decay
            with torch.no_grad():
                if kind == "independent":
                    w_old = p.detach().clone()
                    opt.step()
                    p.sub_(lam * w_old)
                else:  # proximal
                    opt.step()
                    p.div_(1 + lr_t * lam)
        if la is not None:
            la_counter += 1
            if la_counter % la_k == 0:
                with torch.no_grad():
                    slow.add_(p.detach() - slow, alpha=la_alpha)
                    p.copy_(slow)
        if sched is not None:
            sched.step()
        assert p.dtype == torch.float32
        trajectory.append(p.detach().clone().tolist())
    return trajectory, lrs


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------

CASES = [
    # --- SGD family -------------------------------------------------------
    ("sgd_default", {"name": "sgd"}),
    ("sgd_lr0.1_weight_decay0.01", {"name": "sgd", "lr": 0.1, "weight_decay": 0.01}),
    ("sgd_momentum0.9_dampening0.1",
     {"name": "sgd", "lr": 0.01, "momentum": 0.9, "dampening": 0.1}),
    ("momentum_default", {"name": "momentum"}),
    ("momentum_lr0.05_weight_decay0.01",
     {"name": "momentum", "lr": 0.05, "weight_decay": 0.01}),
    ("nesterov_default", {"name": "nesterov"}),
    ("nesterov_lr0.05_weight_decay0.01",
     {"name": "nesterov", "lr": 0.05, "weight_decay": 0.01}),
    # --- Adagrad ----------------------------------------------------------
    ("adagrad_default", {"name": "adagrad"}),
    ("adagrad_lr0.1_weight_decay0.01",
     {"name": "adagrad", "lr": 0.1, "weight_decay": 0.01}),
    ("adagrad_lr_decay0.01_initial_accumulator0.1",
     {"name": "adagrad", "lr_decay": 0.01, "initial_accumulator": 0.1}),
    # --- RMSprop ----------------------------------------------------------
    ("rmsprop_default", {"name": "rmsprop"}),
    ("rmsprop_weight_decay0.01", {"name": "rmsprop", "weight_decay": 0.01}),
    ("rmsprop_centered", {"name": "rmsprop", "centered": True}),
    ("rmsprop_momentum0.9", {"name": "rmsprop", "lr": 1e-3, "momentum": 0.9}),
    ("rmsprop_centered_momentum0.9_alpha0.9",
     {"name": "rmsprop", "lr": 1e-3, "alpha": 0.9, "momentum": 0.9,
      "centered": True}),
    # --- Adadelta ---------------------------------------------------------
    ("adadelta_default", {"name": "adadelta"}),
    ("adadelta_weight_decay0.01", {"name": "adadelta", "weight_decay": 0.01}),
    ("adadelta_lr0.5_rho0.95_eps1e-5",
     {"name": "adadelta", "lr": 0.5, "rho": 0.95, "eps": 1e-5}),
    # --- Adam family ------------------------------------------------------
    ("adam_default", {"name": "adam"}),
    ("adam_lr0.01_weight_decay0.01",
     {"name": "adam", "lr": 0.01, "weight_decay": 0.01}),
    ("adam_eps1e-2", {"name": "adam", "eps": 1e-2}),
    ("adam_betas0.8_0.99_lr0.01",
     {"name": "adam", "lr": 0.01, "beta1": 0.8, "beta2": 0.99}),
    ("adam_amsgrad_weight_decay0.01",
     {"name": "adam", "lr": 0.01, "amsgrad": True, "weight_decay": 0.01}),
    ("amsgrad_default", {"name": "amsgrad"}),
    ("adam_l2_default", {"name": "adam_l2"}),
    ("adam_l2_lr0.01_weight_decay0.1",
     {"name": "adam_l2", "lr": 0.01, "weight_decay": 0.1}),
    ("adamw_default", {"name": "adamw"}),
    ("adamw_lr0.01_weight_decay0.1",
     {"name": "adamw", "lr": 0.01, "weight_decay": 0.1}),
    ("adamw_independent_weight_decay0.01",
     {"name": "adamw", "decay_convention": "independent",
      "weight_decay": 0.01}),
    ("adamw_proximal_lr0.01_weight_decay0.1",
     {"name": "adamw", "decay_convention": "proximal", "lr": 0.01,
      "weight_decay": 0.1}),
    ("adamw_amsgrad", {"name": "adamw", "lr": 0.01, "amsgrad": True}),
    # --- NAdam / RAdam ----------------------------------------------------
    ("nadam_default", {"name": "nadam"}),
    ("nadam_weight_decay0.01", {"name": "nadam", "weight_decay": 0.01}),
    ("nadam_momentum_decay0.01", {"name": "nadam", "momentum_decay": 0.01}),
    ("radam_default", {"name": "radam"}),
    ("radam_lr0.01_weight_decay0.01",
     {"name": "radam", "lr": 0.01, "weight_decay": 0.01}),
    ("radam_beta2_0.9", {"name": "radam", "lr": 0.01, "beta2": 0.9}),
    # --- Schedules --------------------------------------------------------
    ("adamw_schedule_constant",
     {"name": "adamw", "lr": 0.01, "schedule": {"type": "constant"}}),
    ("sgd_schedule_step7_gamma0.5",
     {"name": "sgd", "lr": 0.1,
      "schedule": {"type": "step", "step_size": 7, "gamma": 0.5}}),
    ("adamw_schedule_cosine_tmax30",
     {"name": "adamw", "lr": 0.01,
      "schedule": {"type": "cosine", "t_max": 30, "eta_min": 0.0}}),
    ("momentum_schedule_cosine_tmax25_eta_min1e-3",
     {"name": "momentum", "lr": 0.05,
      "schedule": {"type": "cosine", "t_max": 25, "eta_min": 1e-3}}),
    ("adamw_schedule_linear_warmup10",
     {"name": "adamw", "lr": 0.01,
      "schedule": {"type": "linear_warmup", "warmup_steps": 10,
                   "start_factor": 0.1}}),
    ("adamw_schedule_warm_restarts_t0_5_tmult2",
     {"name": "adamw", "lr": 0.01,
      "schedule": {"type": "warm_restarts", "t_0": 5, "t_mult": 2,
                   "eta_min": 1e-4}}),
    ("sgd_schedule_warm_restarts_t0_7_tmult1",
     {"name": "sgd", "lr": 0.1,
      "schedule": {"type": "warm_restarts", "t_0": 7, "t_mult": 1,
                   "eta_min": 0.0}}),
    ("adamw_proximal_schedule_cosine",
     {"name": "adamw", "decay_convention": "proximal", "lr": 0.01,
      "weight_decay": 0.1,
      "schedule": {"type": "cosine", "t_max": 30, "eta_min": 1e-3}}),
    # --- Clipping ---------------------------------------------------------
    ("adam_clip_norm0.5", {"name": "adam", "lr": 0.01, "clip_norm": 0.5}),
    ("sgd_clip_norm1.0", {"name": "sgd", "lr": 0.1, "clip_norm": 1.0}),
    # --- Lookahead --------------------------------------------------------
    ("adamw_lookahead_k5_alpha0.5",
     {"name": "adamw", "lr": 0.01, "lookahead": {"k": 5, "alpha": 0.5}}),
    ("momentum_lookahead_k5_alpha0.5",
     {"name": "momentum", "lr": 0.05, "lookahead": {"k": 5, "alpha": 0.5}}),
]


def format_json(out):
    """Readable JSON: one case field / one vector per line, full precision
    (json uses repr, which round-trips the float32 values exactly)."""
    d = lambda v: json.dumps(v)
    lines = ["{",
             '  "generator": %s,' % d(out["generator"]),
             '  "torch_version": %s,' % d(out["torch_version"]),
             '  "cases": [']
    for ci, case in enumerate(out["cases"]):
        lines.append("    {")
        lines.append('      "name": %s,' % d(case["name"]))
        lines.append('      "spec": %s,' % d(case["spec"]))
        lines.append('      "initial": %s,' % d(case["initial"]))
        for key in ("gradients", "trajectory"):
            lines.append('      "%s": [' % key)
            rows = case[key]
            for ri, row in enumerate(rows):
                lines.append("        %s%s" % (d(row), "," if ri + 1 < len(rows) else ""))
            lines.append("      ],")
        lines.append('      "lrs": %s' % d(case["lrs"]))
        lines.append("    }%s" % ("," if ci + 1 < len(out["cases"]) else ""))
    lines.append("  ]")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == json.loads(json.dumps(out))
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    args = parser.parse_args()

    np.random.seed(BASE_SEED)
    torch.manual_seed(BASE_SEED)
    torch.set_num_threads(1)
    print("torch version:", torch.__version__)

    names = [n for n, _ in CASES]
    assert len(names) == len(set(names)), "case names must be unique"

    cases = []
    for name, spec in CASES:
        initial, grads = make_data(BASE_SEED + zlib.crc32(name.encode()))
        trajectory, lrs = run_case(spec, initial, grads)
        assert len(trajectory) == len(grads) == STEPS
        for row in trajectory:
            assert all(np.isfinite(row)), name
        cases.append({
            "name": name,
            "spec": spec,
            "initial": initial.tolist(),
            "gradients": grads.tolist(),
            "trajectory": trajectory,
            "lrs": lrs,
        })

    out = {
        "generator": "Scripts/gen_optimizer_fixtures.py",
        "torch_version": torch.__version__,
        "cases": cases,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        f.write(format_json(out))
    print("wrote %d cases to %s" % (len(cases), args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
