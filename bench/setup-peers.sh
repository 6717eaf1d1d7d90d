#!/bin/sh
# Install and configure the peers of bench/run.py (runc, podman, crun) and bench/pull.py (podman,
# skopeo, umoci, docker-registry); idempotent, needs root.
# This machine has a v1/v2 hybrid cgroup layout with `hugetlb` attached to the v2 hierarchy at
# /sys/fs/cgroup/unified; crun (podman's runtime) refuses that, so hugetlb gets its own v1
# hierarchy. Safe to run again: each step checks first.
set -eu

need=""
for tool in runc podman crun skopeo umoci docker-registry; do
    command -v "$tool" >/dev/null 2>&1 || need="$need $tool"
done
if [ -n "$need" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y runc podman crun skopeo umoci docker-registry
fi

unified=/sys/fs/cgroup/unified
if [ -r "$unified/cgroup.controllers" ] && grep -qw hugetlb "$unified/cgroup.controllers"; then
    mkdir -p /sys/fs/cgroup/hugetlb
    mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
fi
if ! grep -q ' /sys/fs/cgroup/hugetlb ' /proc/self/mountinfo; then
    echo "setup-peers: hugetlb is not mounted as a v1 hierarchy" >&2
    exit 1
fi
echo "setup-peers: runc $(runc --version | head -1 | awk '{print $3}'), podman $(podman --version | awk '{print $3}'), crun $(crun --version | head -1 | awk '{print $3}'); hugetlb on /sys/fs/cgroup/hugetlb"
