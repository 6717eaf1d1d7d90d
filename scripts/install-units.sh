#!/usr/bin/env bash
# Installs Rocket's systemd units and tmpfiles.d entry (dist/) on a systemd host, as root:
#
#   scripts/install-units.sh [--rkt=PATH] [--root=DIR] [--no-start]
#
# - groups "rkt" and "rkt-admin" (system groups), for the data dir's and /etc/rkt's modes;
# - dist/tmpfiles.d/rkt.conf -> /etc/tmpfiles.d/rkt.conf, applied (systemd-tmpfiles --create);
# - dist/systemd/rkt-gc.{service,timer} -> /etc/systemd/system/, ExecStart= pointing at the
#   installed rkt (--rkt, default: the rkt on PATH), and the timer enabled and started.
# --root installs into another root (an image being built) and starts nothing; --no-start
# installs and enables without starting. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
rkt=$(command -v rkt || true)
root=
start=yes
for arg in "$@"; do
    case "$arg" in
    --rkt=*) rkt=${arg#--rkt=} ;;
    --root=*) root=${arg#--root=} start=no ;;
    --no-start) start=no ;;
    *)
        echo "usage: $0 [--rkt=PATH] [--root=DIR] [--no-start]" >&2
        exit 2
        ;;
    esac
done
if [ -z "$rkt" ] || [ ! -x "$root$rkt" ]; then
    echo "install-units: no rkt executable${rkt:+ at $root$rkt}; give one with --rkt=PATH" >&2
    exit 1
fi
for group in rkt rkt-admin; do
    if ! getent group "$group" >/dev/null && ! grep -q "^$group:" "$root/etc/group" 2>/dev/null; then
        groupadd --system ${root:+--root "$root"} "$group"
    fi
done
install -D -m 0644 dist/tmpfiles.d/rkt.conf "$root/etc/tmpfiles.d/rkt.conf"
for unit in rkt-gc.service rkt-gc.timer; do
    sed "s|^ExecStart=/usr/bin/rkt |ExecStart=$rkt |" "dist/systemd/$unit" >"$root/etc/systemd/system/$unit.tmp"
    chmod 0644 "$root/etc/systemd/system/$unit.tmp"
    mv "$root/etc/systemd/system/$unit.tmp" "$root/etc/systemd/system/$unit"
done
if [ -n "$root" ]; then
    systemctl --root="$root" enable rkt-gc.timer
    exit 0
fi
systemd-tmpfiles --create /etc/tmpfiles.d/rkt.conf
systemctl daemon-reload
systemctl enable rkt-gc.timer
if [ "$start" = yes ]; then
    systemctl start rkt-gc.timer
fi
