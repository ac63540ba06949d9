# Each mechanism on udp_sendmsg (check --json), then calibrate.
# Loaded by xtask/src/vm.rs with include_str! (placeholders @NAME@ are filled there).
kpath-probe check --function udp_sendmsg --count 1000 --json > /out/check.json
kpath-probe calibrate --count 2000
