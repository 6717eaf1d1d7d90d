"""``rkt api-service`` under load: 50 clients calling ListPods at once, without pause, while 20
pods start and stop (two rounds of 20 ``rkt run``s at once, then ``rkt gc``), against
``rkt list --format=json`` run over and over in the same churn. Run as root.

Reports the number of calls and errors (the target: none), and the p50/p99 latency of a
ListPods call and of a whole ``rkt list`` process, with their ratio. The clients are threads of
this process, each with a channel (a connection) of its own; their latencies include this
process's own scheduling, so they are an upper bound. Everything talks on 127.0.0.1.

    python bench/api_service.py [--clients=50] [--pods=20] [--rounds=2]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration import podkit, servicekit


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--pods", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    options = parser.parse_args()
    import grpc

    from rkt.api import v1alpha_pb2 as pb
    from rkt.api import v1alpha_pb2_grpc as pb_grpc

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "data"
        base = podkit.make_base_rootfs(tmp / "base")
        aci = podkit.make_image(base, tmp, "churn", {"exec": ["/bin/sh", "-c", "sleep 1"]})
        fetched = podkit.rkt(data, "--insecure-options=image", "fetch", str(aci))
        assert fetched.returncode == 0, fetched.stderr
        service = servicekit.Service(
            [f"--dir={data}", "api-service", "--listen=127.0.0.1:0"], tmp / "api.log"
        )
        try:
            service.wait_running()
            found = re.search(r"running on (\S+)", service.text())
            assert found, service.text()
            address = found.group(1)
            stop = threading.Event()
            latencies: list[float] = []
            errors: list[str] = []
            list_times: list[float] = []

            def client() -> None:
                channel = grpc.insecure_channel(address)
                stub = pb_grpc.PublicAPIStub(channel)
                while not stop.is_set():
                    start = time.perf_counter()
                    try:
                        stub.ListPods(pb.ListPodsRequest(), timeout=60)
                    except grpc.RpcError as err:
                        errors.append(f"{err.code()}: {err.details()}")
                        continue
                    latencies.append(time.perf_counter() - start)
                channel.close()

            def cli() -> None:
                while not stop.is_set():
                    start = time.perf_counter()
                    done = podkit.rkt(data, "list", "--format=json")
                    if done.returncode != 0:
                        errors.append(f"rkt list: {done.stderr.strip()}")
                    list_times.append(time.perf_counter() - start)

            threads = [threading.Thread(target=client) for _ in range(options.clients)]
            threads.append(threading.Thread(target=cli))
            for thread in threads:
                thread.start()
            began = time.perf_counter()
            for _ in range(options.rounds):
                runs = [
                    subprocess.Popen(
                        [
                            *podkit.RKT,
                            f"--dir={data}",
                            "--insecure-options=image",
                            "run",
                            "--net=none",
                            str(aci),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    for _ in range(options.pods)
                ]
                failed = [r for r in runs if r.wait(300) != 0]
                errors.extend(f"rkt run exited {r.returncode}" for r in failed)
                for _ in range(2):
                    podkit.rkt(data, "gc", "--grace-period=0s", timeout=300)
            churn = time.perf_counter() - began
            stop.set()
            for thread in threads:
                thread.join(120)
        finally:
            service.stop()
            podkit.cleanup(data, tmp)
    api_p50, api_p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
    cli_p50, cli_p99 = _percentile(list_times, 0.5), _percentile(list_times, 0.99)
    print(f"churn: {options.rounds} x {options.pods} pods run and collected in {churn:.1f} s")
    print(f"ListPods: {len(latencies)} calls from {options.clients} clients, {len(errors)} errors")
    print(f"  p50 {api_p50 * 1000:7.1f} ms   p99 {api_p99 * 1000:7.1f} ms")
    print(f"rkt list --format=json: {len(list_times)} runs")
    print(f"  p50 {cli_p50 * 1000:7.1f} ms   p99 {cli_p99 * 1000:7.1f} ms")
    if cli_p99:
        print(f"p99 ratio ListPods / rkt list: {api_p99 / cli_p99:.2f}x")
    print(f"mean ListPods throughput: {len(latencies) / churn:.0f} calls/s")
    for error in sorted(set(errors))[:10]:
        print(f"error: {error}")
    print(f"target (no error): {'met' if not errors else 'MISSED'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
