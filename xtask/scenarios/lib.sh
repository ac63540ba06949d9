# Shell functions every guest scenario can use; xtask/src/vm.rs puts this file in front of
# each scenario.

# The method's two hosts: two processes holding new network namespaces. Sets GEN and PROXY
# (their pids) and G and P (prefixes that run a command in the generator's or the proxy's
# namespace); returns once both namespaces exist.
netns_holders() {
  unshare -n sleep 100000 &
  GEN=$!
  unshare -n sleep 100000 &
  PROXY=$!
  SELF=$(readlink /proc/self/ns/net)
  for i in $(seq 200); do
    [ "$(readlink /proc/$GEN/ns/net)" != "$SELF" ] && [ "$(readlink /proc/$PROXY/ns/net)" != "$SELF" ] && break
    sleep 0.05
  done
  [ "$(readlink /proc/$GEN/ns/net)" != "$SELF" ] && [ "$(readlink /proc/$PROXY/ns/net)" != "$SELF" ]
  G="nsenter -t $GEN -n"
  P="nsenter -t $PROXY -n"
}
