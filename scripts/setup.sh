#!/usr/bin/env bash
# Installs what Rocket needs on a Debian 12 machine (run as root) and creates .venv.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    python3 python3-venv      # the interpreter the venv is built on
    busybox-static            # the example and test images' userland
    appc-spec golang-github-appc-spec-dev  # the spec and the reference actool (differential tests)
    golang-go                 # builds the appc ACE validator from those sources (its test)
    openssl                   # self-signed certificates for the HTTPS discovery tests
    tar xz-utils bzip2 curl   # peers for the archive tests and benchmarks
    containernetworking-plugins iptables iproute2  # real CNI plugins for the network tests
    libseccomp2               # seccomp filters, through the pyseccomp binding
    gcc libc6-dev musl-tools  # the package build compiles rkt-stage1 (the pod's monitor, PID 1;
                              # with musl: a fifth of the resident memory of a glibc build)
    docker-registry skopeo apache2-utils  # a real registry, a client to push to it, htpasswd
    golang-github-spf13-pflag-dev  # Go's own flag parsing and Nomad's driver calls,
                                   # replayed against rkt (tests only)
    zsh bash-completion       # the completion scripts, loaded by the shells they are for
    dbus-daemon               # a real bus for the D-Bus client's tests
    qemu-system-x86 mmdebstrap  # the VM lane (scripts/vm.sh): systemd and cgroup v2 in a VM
)
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: missing Debian packages (${missing[*]}); run as root" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's own python3, so that what we test is what a Debian host runs.
if [ ! -x .venv/bin/python ]; then
    /usr/bin/python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,api]'
# setuptools (which venv puts there) is not needed at run time, and its .pth file imports a
# distutils shim at every interpreter start (0.4 ms of every rkt command).
if [ -d .venv/lib/python3*/site-packages/setuptools ]; then
    .venv/bin/python -m pip uninstall -q -y --disable-pip-version-check setuptools
fi
# The linters in a venv of their own, so that the runtime venv holds what a user's install
# holds: mypy brings typing_extensions, which msgspec loads at import when it can (~5 ms on
# every rkt command). mypy reads the runtime venv's packages (pyproject: python_executable).
if [ ! -x .venv-lint/bin/python ]; then
    /usr/bin/python3 -m venv .venv-lint
fi
.venv-lint/bin/python -m pip install -q --disable-pip-version-check 'ruff>=0.5' 'mypy>=1.8'
# Byte-compile our sources as a regular install would: the CLI is started in loops, and
# compiling on every start would cost more than the rest of what it does.
.venv/bin/python -m compileall -q src >/dev/null
