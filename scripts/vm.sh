#!/usr/bin/env bash
# A Debian 12 VM with systemd on cgroup v2 only, for testing Rocket where users run it.
#
#   scripts/vm.sh image                 build (or find) the cached image; print its directory
#   scripts/vm.sh run [-- ] CMD [ARG..] boot it, run CMD as root in /mnt/rocket (this checkout,
#                                       read-only) with this checkout's rkt installed, power off;
#                                       CMD's output on stdout, its exit status ours; the
#                                       results directory is /mnt/out in the guest (with the
#                                       tests' helpers, tests/vm/*.c built static, in bin/)
#   scripts/vm.sh accel                 print the accelerator the VM would use (kvm or tcg)
#
# The image (kernel, initrd, ext4 root filesystem) is made from Debian's packages with
# mmdebstrap, with a venv of Rocket's dependencies (wheels built on this host: the guest has no
# network), and cached in $ROCKET_VM_CACHE (/var/cache/rocket-vm) under a key of its inputs
# (this script, scripts/vm-guest.sh and pyproject.toml's dependencies). Each run boots it with snapshot=on
# (nothing written stays), shares the checkout and a results directory over 9p, installs a
# wheel of the checkout and runs CMD from a oneshot unit that powers the VM off. KVM when /dev/kvm works (probed once per
# host and cached), TCG otherwise. The kernel is booted with systemd.unified_cgroup_hierarchy=1
# cgroup_no_v1=all: cgroup v2 only, as on every current distribution.
#
# Environment: ROCKET_VM_CACHE, ROCKET_VM_TIMEOUT (seconds a run may take, default 900),
# ROCKET_VM_ACCEL (kvm|tcg: skip the probe), ROCKET_VM_OUT (keep the results directory there).
# Exit status: CMD's; 125 when the VM could not be built or started or CMD did not finish.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$PWD
cache=${ROCKET_VM_CACHE:-/var/cache/rocket-vm}
timeout=${ROCKET_VM_TIMEOUT:-900}
suite=bookworm
# What the guest needs: systemd (PID 1, machined, logind for login sessions, the bus), the
# kernel, Python for Rocket, and what Rocket's tests use (busybox-static, CNI plugins, iptables).
packages=(
    systemd systemd-sysv systemd-container libpam-systemd dbus
    linux-image-amd64 initramfs-tools kmod
    python3 python3-venv
    busybox-static containernetworking-plugins iptables iproute2 libseccomp2 procps
)
python=.venv/bin/python

fail() {
    echo "vm: $*" >&2
    exit 125
}

key() {
    # The image's inputs: these scripts (packages, recipe) and the project's dependencies.
    { cat scripts/vm.sh scripts/vm-guest.sh && requirements; } | sha256sum | cut -c1-16
}

need() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null || fail "$tool is missing (scripts/setup.sh installs it)"
    done
}

requirements() {
    # The runtime and test dependencies of pyproject.toml, one per line.
    "$python" - <<'EOF'
import tomllib
with open("pyproject.toml", "rb") as f:
    project = tomllib.load(f)["project"]
print("\n".join(project["dependencies"] + project["optional-dependencies"]["test"]))
EOF
}

build_image() {
    local dir=$1 work
    need mmdebstrap mkfs.ext4
    [ -x "$python" ] || fail "$python is missing: run scripts/setup.sh"
    work=$(mktemp -d "$cache/build.XXXXXX")
    trap 'rm -rf "$work"; trap - RETURN' RETURN
    mkdir "$work/wheels"
    requirements >"$work/wheels/requirements.txt"
    echo "vm: building wheels of the dependencies" >&2
    # (A pip.conf naming local indexes that are not there makes pip warn for each package.)
    "$python" -m pip wheel -q --disable-pip-version-check -w "$work/wheels" \
        -r "$work/wheels/requirements.txt" 2>&1 | grep -v "^WARNING: Location" >&2 || true
    ls "$work/wheels"/msgspec-*.whl >/dev/null || fail "cannot build the dependencies' wheels"
    echo "vm: building the root filesystem ($suite, ${#packages[@]} packages)" >&2
    local IFS=,
    # shellcheck disable=SC2016  # the hooks' $1 is mmdebstrap's (the root being made)
    mmdebstrap --quiet --variant=minbase --mode=root --include="${packages[*]}" \
        --customize-hook="cp -r '$work/wheels' \"\$1/opt/wheels\"" \
        --customize-hook='chroot "$1" python3 -m venv /opt/rocket' \
        --customize-hook='chroot "$1" /opt/rocket/bin/pip install -q --disable-pip-version-check --no-index --find-links /opt/wheels -r /opt/wheels/requirements.txt' \
        --customize-hook="cp '$checkout/scripts/vm-guest.sh' \"\$1/usr/local/sbin/rocket-vm-job\"" \
        --customize-hook='chmod 755 "$1/usr/local/sbin/rocket-vm-job"' \
        --customize-hook='printf "%s\n" "[Unit]" "Description=Rocket VM job" "After=basic.target dbus.service" "SuccessAction=poweroff-force" "FailureAction=poweroff-force" "[Service]" "Type=oneshot" "ExecStart=/usr/local/sbin/rocket-vm-job" "StandardOutput=journal+console" "TimeoutStartSec=infinity" "[Install]" "WantedBy=multi-user.target" >"$1/etc/systemd/system/rocket-vm-job.service"' \
        --customize-hook='chroot "$1" systemctl enable rocket-vm-job.service' \
        --customize-hook='chroot "$1" systemctl mask serial-getty@ttyS0.service getty@tty1.service' \
        --customize-hook='echo rocket-vm >"$1/etc/hostname"' \
        "$suite" "$work/root" >&2
    unset IFS
    cp "$work"/root/boot/vmlinuz-* "$work/vmlinuz"
    cp "$work"/root/boot/initrd.img-* "$work/initrd"
    rm -rf "$work/root/opt/wheels" "$work/root/boot"/* "$work/root/var/cache/apt"/*
    mkfs.ext4 -q -F -L rocket-vm -d "$work/root" "$work/root.img" 4G >&2
    mkdir "$work/image"
    mv "$work/vmlinuz" "$work/initrd" "$work/root.img" "$work/image/"
    mv "$work/image" "$dir"
}

image() {
    # The cached image's directory, built first if missing (one builder at a time).
    mkdir -p "$cache"
    local dir
    dir="$cache/image-$(key)"
    if [ ! -d "$dir" ]; then
        exec {lock}>"$cache/lock"
        flock "$lock"
        if [ ! -d "$dir" ]; then
            local started=$SECONDS
            build_image "$dir"
            echo "vm: image built in $((SECONDS - started)) s: $dir" >&2
            # Older images are of inputs that changed; keep only this one.
            find "$cache" -maxdepth 1 -name 'image-*' ! -path "$dir" -exec rm -rf {} +
        fi
        exec {lock}>&-
    fi
    echo "$dir"
}

accel() {
    # KVM only where it can run a guest: nested KVM on some hosts starts qemu, then fails on
    # the first MSR or XSAVE state it cannot set. Probed once (a kernel's first lines within
    # 30 s) and remembered per host kernel and qemu.
    if [ -n "${ROCKET_VM_ACCEL:-}" ]; then
        echo "$ROCKET_VM_ACCEL"
        return
    fi
    if [ ! -w /dev/kvm ]; then
        echo tcg
        return
    fi
    local dir probe answer
    dir=$(image)
    probe="$cache/accel-$(uname -r)-$(qemu-system-x86_64 --version | head -1 | tr -cd '0-9.')"
    if [ ! -f "$probe" ]; then
        answer=tcg
        if timeout 30 qemu-system-x86_64 -accel kvm -cpu host -m 256 -display none -vga none \
            -no-reboot -serial stdio -kernel "$dir/vmlinuz" -nic none \
            -append "console=ttyS0 earlyprintk=serial panic=-1 init=/nonexistent" 2>/dev/null |
            grep -q -m1 "Linux version"; then
            answer=kvm
        fi
        echo "$answer" >"$probe"
    fi
    cat "$probe"
}

run() {
    [ "${1:-}" = "--" ] && shift
    [ $# -gt 0 ] || fail "run needs a command"
    need qemu-system-x86_64
    local dir out mode started
    dir=$(image)
    mode=$(accel)
    if [ -n "${ROCKET_VM_OUT:-}" ]; then
        out=$ROCKET_VM_OUT
        rm -rf "$out"
        mkdir -p "$out"
    else
        out=$(mktemp -d /var/tmp/rocket-vm.XXXXXX)
        trap 'rm -rf "$out"' EXIT
    fi
    mkdir "$out/wheel"
    "$python" -m pip wheel -q --disable-pip-version-check --no-deps -w "$out/wheel" . 2>&1 |
        grep -v "^WARNING: Location" >&2 || true
    ls "$out/wheel"/*.whl >/dev/null || fail "cannot build a wheel of $checkout"
    # The tests' helper programs, static (the guest has no compiler): /mnt/out/bin there.
    mkdir "$out/bin"
    for source in tests/vm/*.c; do
        [ -e "$source" ] || continue
        need gcc
        gcc -static -O2 -Wall -Wextra -Werror -o "$out/bin/$(basename "$source" .c)" "$source" ||
            fail "cannot build $source"
    done
    {
        echo "set -e"
        echo "/opt/rocket/bin/pip install -q --disable-pip-version-check --no-index --no-deps /mnt/out/wheel/*.whl"
        echo "cd /mnt/rocket"
        echo "set +e"
        printf '%q ' "$@"
        echo
    } >"$out/job"
    local cpu=(-accel tcg -cpu max)
    [ "$mode" = kvm ] && cpu=(-accel kvm -cpu host)
    echo "vm: booting ($mode); results in $out" >&2
    started=$SECONDS
    set +e
    timeout "$timeout" qemu-system-x86_64 "${cpu[@]}" -m 3072 -smp 2 \
        -display none -vga none -no-reboot -serial "file:$out/console.log" -monitor none \
        -kernel "$dir/vmlinuz" -initrd "$dir/initrd" \
        -append "root=/dev/vda rw console=ttyS0 quiet systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all systemd.show_status=0" \
        -drive "file=$dir/root.img,format=raw,if=virtio,snapshot=on" \
        -virtfs "local,path=$checkout,mount_tag=rocket,security_model=none,readonly=on" \
        -virtfs "local,path=$out,mount_tag=out,security_model=none" \
        -nic none
    local qemu=$?
    set -e
    [ -f "$out/output" ] && cat "$out/output"
    echo "vm: qemu exited $qemu after $((SECONDS - started)) s" >&2
    if [ ! -f "$out/rc" ]; then
        echo "vm: the command did not finish; the console's last lines:" >&2
        tail -n 40 "$out/console.log" >&2 || true
        exit 125
    fi
    exit "$(cat "$out/rc")"
}

case "${1:-}" in
image) image ;;
accel) accel ;;
run)
    shift
    run "$@"
    ;;
*)
    echo "usage: $0 image | accel | run [--] CMD [ARG...]" >&2
    exit 2
    ;;
esac
