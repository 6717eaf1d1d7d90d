"""Building an ACI from a layout of many small files: ours against tar + sha512sum.

Target: ``actool build`` within 1.5x of ``tar -c`` plus ``sha512sum``. Our build also writes the
file, fsyncs it and renames it into place, so two peers are measured: tar piped into sha512sum
(no file written) and tar writing a file that sha512sum then reads.
Run: .venv/bin/python bench/aci_build.py [--files N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import appc.aci
from aci_inputs import ACTOOL, best_of, many_files_layout, report, shell


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-aci-") as tmp:
        root = Path(tmp)
        layout = many_files_layout(root, options.files)
        out = root / "out.aci"
        tar_file = root / "out.tar"
        tar = f"tar -cf - -C {layout} manifest rootfs"

        def ours(compression: str) -> None:
            appc.aci.build(layout, out, compression=compression, overwrite=True)

        size = sum(len(files) for _, _, files in os.walk(layout))
        print(f"build from a layout of {size} files (best of {options.runs}):")
        rows = [
            ("tar -c | sha512sum", best_of(options.runs, shell(f"{tar} | sha512sum"))),
            (
                "tar -cf FILE && sha512sum FILE",
                best_of(options.runs, shell(f"{tar} > {tar_file} && sha512sum {tar_file}")),
            ),
            ("appc.aci.build none", best_of(options.runs, lambda: ours("none"))),
            (
                "actool build --no-compression (process)",
                best_of(
                    options.runs,
                    shell(f"{ACTOOL} build --overwrite --no-compression {layout} {out}"),
                ),
            ),
        ]
        report(rows, "tar -c | sha512sum")
        print("gzip:")
        rows = [
            ("tar -cz | sha512sum", best_of(options.runs, shell(f"{tar} -z | sha512sum"))),
            ("appc.aci.build gzip", best_of(options.runs, lambda: ours("gzip"))),
        ]
        report(rows, "tar -cz | sha512sum")


if __name__ == "__main__":
    main()
