"""Reading the manifest of a large uncompressed ACI whose manifest is the first member.

Target: under 50 ms for a 1 GiB ACI, since only the start of the file is read. Peer: the
reference actool (/usr/bin/actool), when installed.
Run: .venv/bin/python bench/aci_cat_manifest.py [--mib N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import appc.aci
from aci_inputs import ACTOOL, best_of, big_layout, report, shell

REFERENCE = "/usr/bin/actool"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-aci-") as tmp:
        root = Path(tmp)
        aci = root / "big.aci"
        appc.aci.build(big_layout(root, options.mib << 20), aci, compression="none")
        print(
            f"cat-manifest of a {aci.stat().st_size >> 20} MiB uncompressed ACI "
            f"(best of {options.runs}):"
        )
        rows = [
            ("appc.aci.read_manifest", best_of(options.runs, lambda: appc.aci.read_manifest(aci))),
            (
                "actool cat-manifest (process)",
                best_of(options.runs, shell(f"{ACTOOL} cat-manifest {aci}")),
            ),
            (
                "python -c pass (interpreter start)",
                best_of(options.runs, shell(f"{sys.executable} -c pass")),
            ),
        ]
        if os.path.exists(REFERENCE):
            rows.append(
                (
                    "reference actool cat-manifest",
                    best_of(options.runs, shell(f"{REFERENCE} cat-manifest {aci}")),
                )
            )
        report(rows, rows[-1][0])


if __name__ == "__main__":
    main()
