#!/bin/sh
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
ip link set lo up
@MODULES@
echo "init: kernel $(uname -r), $(nproc) CPUs"
echo "init: scenario start"
cd /tmp
sh /scenario.sh
rc=$?
if [ -b /dev/vda ] && [ -n "$(ls /out)" ]; then
  (cd /out && sha256sum * | sed 's/^/init: sha256 /')
  tar -cf /dev/vda -C /out . || rc=97
fi
if [ "$rc" = 0 ]; then echo "init: success"; else echo "init: failure (exit $rc)"; fi
sync
poweroff -f
