# The demo's session.
# Loaded by xtask/src/vm.rs with include_str! (placeholders @NAME@ are filled there).
$P kpath-probe record --mechanism auto --preset udp-echo --interface kp -q \
   --note "timings under QEMU TCG software emulation: structure is real, times are not" \
   -o /out/demo.trace -- \
   $G kpath-stand gen --target 198.18.0.2:9000 --count @COUNT@ --warmup 50 --allow-remote
kill $ECHO $GEN $PROXY
