# The udp-echo session recorded with kprobes, fentry and in stats mode, then discovery.
# Loaded by xtask/src/vm.rs with include_str! (placeholders @NAME@ are filled there).
for mech in kprobe fentry; do
  $P kpath-probe record --mechanism $mech --preset udp-echo --interface kp -q \
     -o /out/udp-echo-$mech.trace -- \
     $G kpath-stand gen --target 198.18.0.2:9000 --count @COUNT@ --allow-remote
done
# Long-run mode: the same session aggregated in the kernel, no records.
$P kpath-probe record --mode stats --mechanism kprobe --preset udp-echo --interface kp -q \
   -o /out/udp-echo-stats.trace -- \
   $G kpath-stand gen --target 198.18.0.2:9000 --count @COUNT@ --allow-remote
# Method step 2: count calls of every network function during a session.
$P kpath-probe discover --glob-set net -q --top 15 --json /out/discover.json -o /out/discovered.txt -- \
   $G kpath-stand gen --target 198.18.0.2:9000 --count @COUNT@ --allow-remote
kill $ECHO $GEN $PROXY
