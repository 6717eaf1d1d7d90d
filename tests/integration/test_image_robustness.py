"""The image half under stress, through the real CLI: concurrent fetches, gc racing fetches,
and fetches killed with SIGKILL at many moments (issue acceptance; README "Reliability").
Every case ends with ``rkt image verify`` clean and no partial image visible.

The server is on 127.0.0.1 only and streams slowly on purpose, so that the kills land in the
download as well as in the import and the render that follow it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.integration.test_fetch_servers import Image, build_image
from tests.trustkit import Signer

pytestmark = pytest.mark.integration

RKT = [sys.executable, "-m", "rkt.cli.main"]
NAME = "example.com/robust"


class SlowServer:
    """Serves files from a dict, in 64 KiB chunks with a pause between them."""

    def __init__(self, files: dict[str, bytes], pause: float) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                body = owner.files.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for start in range(0, len(body), 1 << 16):
                        self.wfile.write(body[start : start + (1 << 16)])
                        time.sleep(owner.pause)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client was killed: expected

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.files = files
        self.pause = pause
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __enter__(self) -> SlowServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Rkt:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.local = root / "etc"
        self.system = root / "lib"
        self.env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}

    def argv(self, *args: str) -> list[str]:
        return [
            *RKT,
            "--dir", str(self.data),
            "--local-config", str(self.local),
            "--system-config", str(self.system),
            "--user-config", str(self.root / "user"),
            *args,
        ]  # fmt: skip

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.argv(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
            start_new_session=True,
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), capture_output=True, text=True, env=self.env, timeout=120, check=False
        )

    def images(self) -> list[dict[str, object]]:
        done = self.run("image", "list", "--format=json")
        assert done.returncode == 0, done.stderr
        return list(json.loads(done.stdout) or [])  # rkt prints null for no images

    def assert_consistent(self) -> None:
        done = self.run("image", "verify")
        assert done.returncode == 0, done.stdout + done.stderr
        blobs = [p for p in (self.data / "cas" / "blob").rglob("*") if p.is_file()]
        # Every blob has its row and every row its blob: no half image is visible.
        assert len(blobs) == len(self.images())


def _files() -> dict[str, bytes]:
    """Some large files (a download worth killing) and many small ones (a render worth
    killing)."""
    rng = random.Random(7)
    files = {f"data/f{i:03}": rng.randbytes(rng.randint(1, 200_000)) for i in range(60)}
    files.update(
        {f"small/{i // 100}/s{i:04}": rng.randbytes(rng.randint(0, 4000)) for i in range(1500)}
    )
    return files


@pytest.fixture(scope="module")
def module_image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    return build_image(tmp_path_factory.mktemp("images"), NAME, files=_files())


@pytest.fixture
def image(module_image: Image) -> Image:
    return module_image


def test_parallel_fetches_of_one_signed_image(image: Image, tmp_path: Path) -> None:
    rkt = Rkt(tmp_path)
    signer = Signer.generate()
    signer.install(rkt.local, prefix=NAME)
    body = image.path.read_bytes()
    with SlowServer({"/i.aci": body, "/i.aci.asc": signer.sign(body)}, pause=0) as server:
        procs = [
            rkt.popen("--insecure-options=http", "fetch", server.url("/i.aci")) for _ in range(8)
        ]
        results = [(p.wait(120), *p.communicate()) for p in procs]
    for code, out, err in results:
        assert code == 0, err.decode()
        assert out.decode().strip() == image.id[: len("sha512-") + 32]
    assert [i["id"] for i in rkt.images()] == [image.id]
    # One blob, one row, one tree.
    assert [p.name for p in (rkt.data / "cas" / "tree").iterdir()] == [image.id]
    rkt.assert_consistent()


def test_gc_racing_fetches(image: Image, tmp_path: Path) -> None:
    rkt = Rkt(tmp_path)
    with SlowServer({"/i.aci": image.path.read_bytes()}, pause=0) as server:
        for _ in range(3):
            procs = [
                rkt.popen("--insecure-options=image,http", "fetch", server.url("/i.aci"))
                for _ in range(4)
            ] + [rkt.popen("image", "gc", "--grace-period=0s") for _ in range(3)]
            for proc in procs:
                code = proc.wait(120)
                assert code == 0, proc.communicate()[1].decode()
            rkt.assert_consistent()
    # And the store still works: the image can be fetched and rendered again.
    with SlowServer({"/i.aci": image.path.read_bytes()}, pause=0) as server:
        again = rkt.run("--insecure-options=image,http", "fetch", "--full", server.url("/i.aci"))
    assert again.returncode == 0 and again.stdout.strip() == image.id
    rkt.assert_consistent()


def _kill_after(proc: subprocess.Popen[bytes], delay: float) -> None:
    time.sleep(delay)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)


@pytest.fixture(scope="module")
def slow_server(module_image: Image) -> Iterator[SlowServer]:
    # About half a second of download for the ~7 MB image, then import and render.
    with SlowServer({"/i.aci": module_image.path.read_bytes()}, pause=0.003) as server:
        yield server


class Phases:
    """When, after its start, a fetch on this machine leaves the download for the import, and
    when it ends; measured once by watching the data dir, so kills land in each phase
    whatever the machine's speed."""

    def __init__(self, download_end: float, end: float) -> None:
        self.download_end = download_end
        self.end = end


@pytest.fixture(scope="module")
def phases(slow_server: SlowServer, tmp_path_factory: pytest.TempPathFactory) -> Phases:
    rkt = Rkt(tmp_path_factory.mktemp("calibration"))
    start = time.monotonic()
    proc = rkt.popen("--insecure-options=image,http", "fetch", slow_server.url("/i.aci"))
    download_end = 0.0
    while proc.poll() is None:
        tmp = rkt.data / "cas" / "tmp"
        if (
            not download_end
            and tmp.is_dir()
            and any(p.name.startswith("store-") for p in tmp.iterdir())
        ):
            download_end = time.monotonic() - start
        time.sleep(0.002)
    end = time.monotonic() - start
    assert proc.returncode == 0, proc.communicate()[1].decode()
    return Phases(download_end or end / 2, end)


# Fractions of the download, then of the import-and-render that follows it.
KILL_POINTS = [("download", f) for f in (0.05, 0.3, 0.6, 0.9)] + [
    ("store", f) for f in (0.0, 0.1, 0.25, 0.4, 0.55, 0.7, 0.85, 0.95)
]


@pytest.mark.parametrize(("phase", "fraction"), KILL_POINTS)
def test_fetch_killed_leaves_no_partial_image(
    phase: str,
    fraction: float,
    image: Image,
    tmp_path: Path,
    slow_server: SlowServer,
    phases: Phases,
) -> None:
    rkt = Rkt(tmp_path)
    url = slow_server.url("/i.aci")
    if phase == "download":
        delay = fraction * phases.download_end
    else:
        delay = phases.download_end + fraction * (phases.end - phases.download_end)
    _kill_after(rkt.popen("--insecure-options=image,http", "fetch", url), delay)
    listed = rkt.images()
    # Either nothing, or the whole image: never a row for something half there.
    assert listed == [] or [i["id"] for i in listed] == [image.id]
    rkt.assert_consistent()
    # The next command finishes the job: a fetch succeeds and leaves a consistent store.
    again = rkt.run("--insecure-options=image,http", "fetch", "--full", url)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == image.id
    assert len(rkt.images()) == 1
    rkt.assert_consistent()
    extracted = tmp_path / "out"
    done = rkt.run("image", "render", image.id, str(extracted))
    assert done.returncode == 0, done.stderr
    assert (extracted / "rootfs" / "data" / "f000").is_file()
    assert (extracted / "rootfs" / "small" / "14" / "s1499").is_file()
