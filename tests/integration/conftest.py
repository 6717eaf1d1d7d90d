"""Fixtures shared by the integration modules, defined once here.

Pods: ``base`` (a busybox rootfs the module's images are copies of, see podkit.make_image)
and ``data`` (a test's rkt data dir, cleaned up afterwards). A module whose pods need more
than the common base says so by overriding ``base_applets`` (more busybox applets) or
``base`` itself (requesting this one by name and adding to it), or by overriding ``data`` to
do more before the common cleanup.

Fetch servers: ``http_server`` and ``https_server`` (test_fetch_servers.LocalServer on
127.0.0.1, the latter with a certificate of ``test_ca``), and ``no_proxies``, which a module
applies to all its tests with ``pytest.mark.usefixtures("no_proxies")``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import podkit
from tests.integration.test_fetch_servers import LocalServer
from tests.integration.tls import Authority, clear_proxies, make_ca, server_context

# --- pods ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_applets() -> tuple[str, ...]:
    """The busybox applets a module's pods need beyond podkit.APPLETS (none unless the module
    overrides this fixture)."""
    return ()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, base_applets: tuple[str, ...]) -> Path:
    """The module's rootfs: busybox, its applets, /etc/passwd (root, app=1000) and /etc/group
    (root, app=1000, extra=2000). Module-scoped, so a module that adds to it adds to its own."""
    return podkit.make_base_rootfs(tmp_path_factory.mktemp("base") / "rootfs", base_applets)


@pytest.fixture
def data(tmp_path: Path) -> Iterator[Path]:
    """The rkt data dir; its pods are gc'd (their cgroups too) and every mount under tmp_path
    is detached afterwards, pass or fail."""
    yield tmp_path / "data"
    podkit.cleanup(tmp_path / "data", tmp_path)


# --- fetch servers ------------------------------------------------------------------------


@pytest.fixture
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy from the environment would send requests elsewhere than 127.0.0.1."""
    clear_proxies(monkeypatch)


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def https_server(test_ca: Authority) -> Iterator[LocalServer]:
    with LocalServer(server_context(test_ca.cert, test_ca.key)) as server:
        yield server


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server
