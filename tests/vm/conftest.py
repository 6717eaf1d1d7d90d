"""The VM lane: tests/vm/test_vm_lane.py (on the host) boots the VM of scripts/vm.sh and runs
the guest's tests there; tests/vm/guest/ are those tests, collected only inside the VM
(``RKT_IN_VM``), since they need systemd as PID 1 and cgroup v2."""

import os

collect_ignore_glob = [] if os.environ.get("RKT_IN_VM") else ["guest/*"]
