#!/bin/sh
# In the VM of scripts/vm.sh (rocket-vm-job.service, a oneshot unit that powers the VM off):
# mount the checkout (read-only) and the results directory over 9p, run the host's job with
# the checkout's rkt on PATH, and leave its output and exit status in the results directory.
set -u
mkdir -p /mnt/rocket /mnt/out
options=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o "$options" out /mnt/out || exit 1
if ! mount -t 9p -o "$options,ro,cache=loose" rocket /mnt/rocket; then
    echo "vm: cannot mount the checkout" >/mnt/out/output
    echo 125 >/mnt/out/rc
    exit 1
fi
export RKT_IN_VM=1 HOME=/root PYTHONDONTWRITEBYTECODE=1 PATH="/opt/rocket/bin:$PATH"
sh /mnt/out/job >/mnt/out/output 2>&1
echo $? >/mnt/out/rc.tmp
mv /mnt/out/rc.tmp /mnt/out/rc
