#!/usr/bin/env python3
"""Export scikit-learn's bundled UCI hand-written digits (8x8) to CSV.

Usage:
    python Scripts/export_digits.py [OUTPUT_CSV]

OUTPUT_CSV defaults to Topologies/data/digits.csv (relative to the repository
root, i.e. the parent of this script's directory).

Output format: a header line ``label,p0,p1,...,p63`` followed by one row per
sample (1,797 rows) in the original dataset order. Every field is an integer:
the class label (0..9) first, then the 64 pixel values (0..16) in row-major
order of the 8x8 image. The output is deterministic (no shuffling, no
randomness, fixed "\\n" line endings).

Requires: numpy, scikit-learn (the data ships inside scikit-learn; no network
access is needed).

Citation / licence:
    E. Alpaydin, C. Kaynak, "Optical Recognition of Handwritten Digits",
    UCI Machine Learning Repository, 1998. https://doi.org/10.24432/C50P49
    As bundled by scikit-learn (sklearn.datasets.load_digits).
    Licensed under CC BY 4.0.
"""

import os
import sys

from sklearn.datasets import load_digits

N_SAMPLES = 1797
N_FEATURES = 64


def main(argv):
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_path = argv[1] if len(argv) > 1 else os.path.join(
        repo_root, "Topologies", "data", "digits.csv")

    digits = load_digits()
    X, y = digits.data, digits.target
    assert X.shape == (N_SAMPLES, N_FEATURES), X.shape
    assert y.shape == (N_SAMPLES,), y.shape

    Xi = X.astype(int)
    assert (Xi == X).all() and Xi.min() >= 0 and Xi.max() <= 16

    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w", newline="\n", encoding="ascii") as f:
        f.write("label," + ",".join(f"p{i}" for i in range(N_FEATURES)) + "\n")
        for label, row in zip(y, Xi):
            f.write(str(int(label)) + "," + ",".join(str(int(v)) for v in row) + "\n")

    print(f"wrote {N_SAMPLES} rows to {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
