"""``rkt fetch`` of a large image from a local HTTP server, against curl piped into tar.

The image: a gzip-compressed ACI of 10,000 files, about 200 MB uncompressed (half of each
file random, half repetitive, so gzip has work to do). Ours: a fresh data dir, then
``Fetcher.fetch`` (download to tmp/, signature verified with pysequoia, import: decompress,
validate, hash and store the tar, then render the tree). Peers, in the same run:
``curl -s URL | tar -xz -C DIR``, plus ``sha512sum`` of the uncompressed tar (what our image
ID costs), and one pipeline doing both from a single download. Target: within 1.5x of
``curl | tar -xz`` + ``sha512sum``. Then a second fetch with an unchanged ETag, which must
transfer no body. Everything listens on 127.0.0.1 only.
Run: .venv/bin/python bench/fetch.py [--files N] [--megabytes M] [--runs R]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pysequoia

import appc.aci
from aci_inputs import best_of, report
from rkt.config import Config, ConfigDirs
from rkt.datadir import DataDir
from rkt.fetch import Fetcher, HttpTransport
from rkt.fetch.download import PartialDownload, download, fetch_small
from rkt.insecure import Insecure
from rkt.store import Store
from rkt.trust import Keystore, verify

NAME = "example.com/bench"


def make_layout(root: Path, files: int, total: int) -> Path:
    rng = random.Random(1)
    layout = root / "layout"
    rootfs = layout / "rootfs"
    rootfs.mkdir(parents=True)
    manifest = {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": NAME}
    (layout / "manifest").write_text(json.dumps(manifest))
    mean = total // files
    text = b"the quick brown fox jumps over the lazy dog; " * 1000
    for i in range(files):
        directory = rootfs / f"d{i // 100:03}"
        if i % 100 == 0:
            directory.mkdir()
        size = rng.randint(0, 2 * mean)
        half = size // 2
        start = rng.randint(0, 1000)
        (directory / f"f{i % 100:03}").write_bytes(
            rng.randbytes(half) + text[start : start + size - half]
        )
    return layout


class Server:
    """Serves the files given from memory, with an ETag; counts the body bytes sent."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.sent = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                body = files.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                etag = f'"{len(body)}"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(memoryview(body))
                server.sent += len(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    curl = shutil.which("curl")
    with tempfile.TemporaryDirectory(prefix="bench-fetch-") as tmp:
        root = Path(tmp)
        layout = make_layout(root, options.files, options.megabytes * 1_000_000)
        aci = root / "bench.aci"
        image_id = appc.aci.build(layout, aci, compression="gzip", owner_root=True)
        tar = root / "bench.tar"
        subprocess.run(f"gzip -dc {aci} > {tar}", shell=True, check=True)
        secret = pysequoia.Tsk.generate("Bench <bench@rocket.invalid>")
        signature = pysequoia.sign(
            secret.signer(), aci.read_bytes(), mode=pysequoia.SignatureMode.DETACHED
        )
        dirs = ConfigDirs(system=root / "system", local=root / "local", user=None)
        Keystore(dirs).add(str(secret.extract_certificate()).encode(), prefix=NAME)
        server = Server({"/bench.aci": aci.read_bytes(), "/bench.aci.asc": signature})
        url = server.url("/bench.aci")
        print(
            f"image: {options.files} files, {tar.stat().st_size / 1e6:.0f} MB tar, "
            f"{aci.stat().st_size / 1e6:.0f} MB gzip (best of {options.runs})"
        )

        counter = iter(range(1_000_000))

        def fresh(prefix: str) -> Path:
            path = root / f"{prefix}{next(counter)}"
            path.mkdir()
            return path

        def config(data: Path) -> Config:
            return Config(data_dir=data, dirs=dirs, insecure=Insecure.HTTP)

        def ours() -> Path:
            data = fresh("data")
            with Store(DataDir(data)) as store:
                fetcher = Fetcher(
                    config(data),
                    store,
                    Keystore(dirs),
                    transport=HttpTransport(insecure=Insecure.HTTP),
                    stderr=io.StringIO(),
                )
                assert fetcher.fetch(url) == image_id
            return data

        def run(command: str) -> Callable[[], object]:
            return lambda: subprocess.run(
                command.replace("DIR", str(fresh("peer"))), shell=True, check=True,
                executable="/bin/bash",
            )  # fmt: skip

        rows: list[tuple[str, float]] = []
        if curl is None:
            print("  curl is not installed: peers skipped (apt-get install curl)")
        else:
            untar = best_of(options.runs, run(f"{curl} -s {url} | tar -xz -C DIR"))
            sha = best_of(options.runs, run(f"sha512sum {tar} >/dev/null"))
            tee_hash = "tee >(sha512sum >/dev/null)"
            rows += [
                ("curl | tar -xz", untar),
                ("curl | tar -xz + sha512sum tar", untar + sha),
                (
                    "curl | gzip -d | tee >(sha512sum) | tar -x",
                    best_of(
                        options.runs,
                        run(f"{curl} -s {url} | gzip -dc | {tee_hash} | tar -x -C DIR"),
                    ),
                ),
            ]
        rows.append(("rkt.fetch (download+verify+import+render)", best_of(options.runs, ours)))
        if rows and curl is not None:
            report(rows, "curl | tar -xz + sha512sum tar")
        else:
            report(rows, rows[0][0])
        breakdown(dirs, url, image_id, fresh, config)

        data = ours()
        before = server.sent
        start = time.perf_counter()
        with Store(DataDir(data)) as store:
            fetcher = Fetcher(
                config(data), store, Keystore(dirs),
                transport=HttpTransport(insecure=Insecure.HTTP), stderr=io.StringIO(),
            )  # fmt: skip
            assert fetcher.fetch(url) == image_id
        elapsed = time.perf_counter() - start
        print(
            f"second fetch, unchanged ETag: {server.sent - before} body bytes sent, "
            f"{elapsed * 1000:.1f} ms"
        )


def breakdown(
    dirs: ConfigDirs,
    url: str,
    image_id: str,
    fresh: Callable[[str], Path],
    config: Callable[[Path], Config],
) -> None:
    """Where our time goes: each phase of a fetch timed on its own, once."""
    data = fresh("phases")
    timings: list[tuple[str, float]] = []
    with Store(DataDir(data)) as store, PartialDownload(DataDir(data).tmp, url) as temp:

        def timed(name: str, fn: Callable[[], object]) -> None:
            start = time.perf_counter()
            fn()
            timings.append((name, time.perf_counter() - start))

        timed("download", lambda: download(HttpTransport(insecure=Insecure.HTTP), url, temp.file))
        _, asc = fetch_small(HttpTransport(insecure=Insecure.HTTP), url + ".asc")
        timed("verify", lambda: verify(NAME, temp.file, asc, Keystore(dirs)))
        temp.file.seek(0)
        timed("import", lambda: store.import_aci(temp.file))
        timed("render", lambda: store.render(image_id))
    print("  phases: " + ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in timings))


if __name__ == "__main__":
    main()
