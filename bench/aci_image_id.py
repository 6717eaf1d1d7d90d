"""Image ID of a large uncompressed ACI: ours against sha512sum on the same file.

Target: within 1.25x of sha512sum. Run: .venv/bin/python bench/aci_image_id.py [--mib N]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import appc.aci
from aci_inputs import ACTOOL, best_of, big_layout, report, shell


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=1024, help="size of the archive's file")
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-aci-") as tmp:
        root = Path(tmp)
        aci = root / "big.aci"
        appc.aci.build(big_layout(root, options.mib << 20), aci, compression="none")
        expected = "sha512-" + subprocess.check_output(["sha512sum", aci], text=True).split()[0]
        assert appc.aci.image_id(aci) == expected
        assert appc.aci.validate_archive(aci).image_id == expected
        size = aci.stat().st_size >> 20
        print(f"image ID of a {size} MiB uncompressed ACI (best of {options.runs}):")
        rows = [
            ("sha512sum", best_of(options.runs, shell(f"sha512sum {aci}"))),
            ("appc.aci.image_id", best_of(options.runs, lambda: appc.aci.image_id(aci))),
            (
                "appc.aci.validate_archive",
                best_of(options.runs, lambda: appc.aci.validate_archive(aci)),
            ),
            ("actool image-id (process)", best_of(options.runs, shell(f"{ACTOOL} image-id {aci}"))),
        ]
        report(rows, "sha512sum")


if __name__ == "__main__":
    main()
