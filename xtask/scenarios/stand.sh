# The stand on emulated NICs.
# Loaded by xtask/src/vmstand/mod.rs with include_str! (placeholders @NAME@ are filled there).
set -e
by_mac() {
  for d in /sys/class/net/*; do
    [ "$(cat $d/address)" = "$1" ] && { basename $d; return 0; }
  done
  return 1
}
PIF=$(by_mac @PROXY_MAC@)
GIF=$(by_mac @GEN_MAC@)
echo "vm-stand: proxy card $PIF, generator card $GIF, driver $(basename $(readlink /sys/class/net/$PIF/device/driver))"
[ "$(basename $(readlink /sys/class/net/$PIF/device/driver))" = "@DRIVER@" ]
if [ -r /sys/kernel/realtime ]; then echo "vm-stand: PREEMPT_RT kernel (/sys/kernel/realtime=$(cat /sys/kernel/realtime))"; fi

if [ "@CHECK@" = 1 ]; then
  echo "vm-stand: check udp_sendmsg"
  kpath-probe check --function udp_sendmsg --count 1000 --json > /out/check-udp_sendmsg.json || true
  cat /out/check-udp_sendmsg.json
  echo "vm-stand: end"
fi

netns_holders
ip link set $GIF netns $GEN
ip link set $PIF netns $PROXY
$G ip link set lo up
$G ip addr add 198.18.0.1/30 dev $GIF
$G ip link set $GIF up
$P ip link set lo up
$P ip addr add 198.18.0.2/30 dev $PIF
$P ip link set $PIF up
# The link comes up after autonegotiation; the first pings also resolve ARP both ways.
up=0
for i in $(seq 60); do
  if $G ping -c 1 -W 1 198.18.0.2 >/dev/null 2>&1; then up=1; break; fi
done
[ "$up" = 1 ] || { echo "vm-stand: no ping across the cable"; exit 3; }
$P ping -c 2 -W 1 198.18.0.1 >/dev/null
echo "vm-stand: the cable works"

$P kpath-stand echo --listen 198.18.0.2:9000 --ready-file /tmp/echo-ready &
ECHO=$!
for i in $(seq 200); do [ -s /tmp/echo-ready ] && break; sleep 0.05; done
[ -s /tmp/echo-ready ]
GENBASE="$G kpath-stand gen --target 198.18.0.2:9000 --pattern pingpong --allow-remote"
GENCMD="$GENBASE --count @COUNT@"

if [ "@CHECK@" = 1 ]; then
  # fentry on a module function: check attaches, then sends on loopback, which never
  # reaches the card, so only the attach/verifier result is meaningful here.
  echo "vm-stand: check module @XMIT@"
  $P kpath-probe check --function @XMIT@ --count 10 --mechanism kprobe,fentry --json \
    > /out/check-module.json || true
  cat /out/check-module.json
  echo "vm-stand: end"
  # fentry asked of the recorder on the module function, with traffic across the card;
  # the trace's metadata says which mechanism each function got.
  $P kpath-probe record --mechanism fentry --function @XMIT@ --function udp_sendmsg -q \
    -o /out/fentry-module.trace -- $GENBASE --count 20 \
    && echo "vm-stand: fentry-module record ok" \
    || echo "vm-stand: fentry-module record failed (exit $?)"
  # Stats mode with each function mechanism and the tracepoint stages: the verifier sees a
  # mode's paths only when the programs are loaded in it (the mode is a load-time constant).
  for m in kprobe fentry; do
    $P kpath-probe record --mode stats --mechanism $m --function udp_sendmsg --stages -q \
      -o /out/stats-$m.trace -- $GENBASE --count @STATS_COUNT@ \
      && echo "vm-stand: stats-mode record with $m ok" \
      || echo "vm-stand: stats-mode record with $m failed (exit $?)"
  done
fi

$P kpath-probe list --preset udp-echo --interface $PIF @EXTRA@ --mechanism kprobe || true
$P kpath-probe record --mechanism kprobe --preset udp-echo --interface $PIF @EXTRA@ \
  --pid $ECHO -q -o /out/stand.trace -- $GENCMD

if [ "@DISCOVER@" = 1 ]; then
  if $P kpath-probe discover --help >/dev/null 2>&1; then
    $P kpath-probe discover --glob-set net --root @POLL@ --json /out/discover.json \
      -o /out/discovered.txt -- $GENCMD || echo "vm-stand: discover failed"
    if [ -s /out/discovered.txt ]; then
      $P kpath-probe record --mechanism kprobe --functions-file /out/discovered.txt \
        --pid $ECHO -q -o /out/stand-discovered.trace -- $GENCMD || echo "vm-stand: record of the discovered set failed"
    fi
  else
    echo "vm-stand: this kpath-probe has no discover subcommand; skipped"
  fi
fi
# Which tasks ran the receive path (IRQ threads on PREEMPT_RT, ksoftirqd): name the tids.
ps | grep -E "irq/|ksoftirqd|kpath-stand" | grep -v grep | sed 's/^/vm-stand: ps /' || true
kill $ECHO $GEN $PROXY
