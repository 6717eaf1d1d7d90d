"""``python -m tests.integration.nomad.sandbox WORK -- REPLAY ARGS...``: run the Nomad driver
replay (replay.go) as a Nomad client host would, without touching this host.

Started by test_nomad_driver.py under ``unshare --net --mount --propagation private``, as root:
a network namespace of its own, with only ``lo``, where the discovery server can listen on
127.0.0.1:443 (rkt trust and fetch discover on the default port, and the driver gives no other)
and where the pods' CNI networks and NAT rules live; a mount namespace of its own where rkt's
default directories (/var/lib/rkt, /etc/rkt, /var/lib/cni, /run/rkt) are fresh, so the driver's
command lines run unchanged, without --dir or config flags. Everything goes with the
namespaces; only the pods' cgroups are the host's, and ``rkt gc`` removes them at the end.

WORK holds ``www/`` (what the HTTPS server serves: ``PATH`` files, and ``PATH@discovery`` for
``PATH?ac-discovery=1``), ``cert.pem``/``key.pem``, and ``bin/rkt``.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def _isolate(work: Path) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    _mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/var/lib")
    for upper in ("etc-upper", "etc-work"):
        (work / upper).mkdir(exist_ok=True)
    layers = f"lowerdir=/etc,upperdir={work / 'etc-upper'},workdir={work / 'etc-work'}"
    _mount("-t", "overlay", "overlay", "-o", layers, "/etc")
    os.makedirs("/run/rkt", exist_ok=True)
    _mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run/rkt")


def _serve(work: Path) -> ThreadingHTTPServer:
    www = work / "www"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            name = path.lstrip("/") + ("@discovery" if query == "ac-discovery=1" else "")
            file = www / name
            if ".." in name.split("/") or not file.is_file():
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = file.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 443), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(work / "cert.pem", work / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str]) -> int:
    work = Path(argv[0])
    replay = argv[argv.index("--") + 1 :]
    _isolate(work)
    _serve(work)
    env = {
        key: value
        for key, value in os.environ.items()
        if "proxy" not in key.lower() and key != "SSL_CERT_DIR"
    }
    env["PATH"] = f"{work / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    env["SSL_CERT_FILE"] = str(work / "cert.pem")
    try:
        done = subprocess.run(replay, env=env, capture_output=True, text=True, timeout=600)
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        return done.returncode
    finally:
        # The pods' cgroups are the host's: collect the pods while their namespaces exist.
        for _ in range(2):
            subprocess.run(["rkt", "gc", "--grace-period=0s"], env=env, capture_output=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
