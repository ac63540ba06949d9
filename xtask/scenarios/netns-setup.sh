# The method's two hosts: two network namespaces joined by veth, the echo ready.
# Loaded by xtask/src/vm.rs with include_str! (placeholders @NAME@ are filled there).
set -e
# The method's two hosts: two network namespaces joined by a veth pair.
netns_holders
# busybox ip ignores "peer name": the peer gets the kernel's veth%d name; rename it.
ip link add kg type veth peer name kp
if [ ! -e /sys/class/net/kp ]; then
  for d in /sys/class/net/veth*; do ip link set "$(basename "$d")" name kp; break; done
fi
ip link set kg netns $GEN
ip link set kp netns $PROXY
$G ip addr add 198.18.0.1/30 dev kg
$G ip link set kg up
$G ip link set lo up
$P ip addr add 198.18.0.2/30 dev kp
$P ip link set kp up
$P ip link set lo up
$P kpath-stand echo --listen 198.18.0.2:9000 --ready-file /tmp/echo-ready &
ECHO=$!
for i in $(seq 200); do [ -s /tmp/echo-ready ] && break; sleep 0.05; done
[ -s /tmp/echo-ready ]
