# umount-iput-stress: mount, create/write/unlink from several workers while caches are dropped,
# unmount with inodes still cached, remount and verify what the previous cycle kept, repeat.
# Config (from /etc/harness.conf): MON KEY CYCLES WORKERS FILES SEED.
# Reports trouble as "HARNESS-FINDING: <title>" and exits non-zero.
RANDOM=$SEED
OPTS="name=admin${KEY:+,secret=$KEY}"
ERR=/tmp/errors
: > $ERR
finding() { echo "HARNESS-FINDING: $*"; echo "$*" >> $ERR; }
up() { cut -d' ' -f1 /proc/uptime; }

# Functions use `local`: shell variables are global and the main loop's c, w, i must survive.
do_mount() {
  local tries=0
  # The cluster is ready before the guest boots, but the first mount can still race the MDS.
  until mount -t ceph "$MON:/" /mnt -o "$OPTS" 2>/tmp/mount.err; do
    tries=$((tries+1))
    if [ $tries -ge 60 ]; then finding "mount failed: $(cat /tmp/mount.err)"; return 1; fi
    sleep 1
  done
  echo "HARNESS: mounted cycle=$1 retries=$tries uptime=$(up)"
}

# Files a cycle keeps: the odd-numbered ones (even ones are unlinked right after the next is written).
verify() {
  local c=$1 bad=0 n=0 w=1 i want got
  while [ $w -le $WORKERS ]; do
    i=1
    while [ $i -lt $FILES ]; do
      want="cycle $c worker $w file $i"
      got=$(cat /mnt/d$c/w$w/f$i 2>/dev/null)
      n=$((n+1))
      if [ "$got" != "$want" ]; then
        bad=$((bad+1))
        [ $bad -le 3 ] && echo "HARNESS: mismatch /mnt/d$c/w$w/f$i: got '$got'"
      fi
      i=$((i+20))
    done
    w=$((w+1))
  done
  [ $bad -gt 0 ] && finding "data mismatch after remount: $bad of $n files from cycle $c"
  echo "HARNESS: verified cycle=$c files=$n bad=$bad"
}

c=1
while [ $c -le $CYCLES ]; do
  t0=$(up)
  do_mount $c || exit 1
  [ $c -gt 1 ] && { verify $((c-1)); rm -rf /mnt/d$((c-1)); }
  mkdir -p /mnt/d$c
  : > /tmp/dropping
  ( while [ -e /tmp/dropping ]; do echo $((2 + RANDOM % 2)) > /proc/sys/vm/drop_caches; sleep 0.3; done ) &
  dp=$!
  pids=""
  w=1
  while [ $w -le $WORKERS ]; do
    ( d=/mnt/d$c/w$w; mkdir -p $d || finding "mkdir $d failed"
      i=0
      while [ $i -lt $FILES ]; do
        echo "cycle $c worker $w file $i" > $d/f$i || finding "write $d/f$i failed"
        if [ $((i % 2)) = 1 ]; then rm -f $d/f$((i-1)) || finding "unlink $d/f$((i-1)) failed"; fi
        # now and then make writeback happen with dirty inodes around
        [ $((i % 97)) = 0 ] && sync
        i=$((i+1))
      done ) &
    pids="$pids $!"
    w=$((w+1))
  done
  wait $pids
  # Populate the dcache/icache, leave inodes cached, then unmount with the dropper still running.
  n=$(ls -R /mnt/d$c | wc -l)
  cat /mnt/d$c/w1/f1 > /dev/null
  t1=$(up)
  if ! umount /mnt 2>/tmp/umount.err; then
    finding "umount failed: $(cat /tmp/umount.err)"
    umount -l /mnt
  fi
  rm -f /tmp/dropping
  wait $dp
  echo "HARNESS: cycle=$c done entries=$n work=$(echo "$t1 $t0" | awk '{print $1-$2}')s umount=$(echo "$(up) $t1" | awk '{print $1-$2}')s"
  c=$((c+1))
done
# Last check: remount, verify the final cycle's files, clean up, unmount.
do_mount final || exit 1
verify $CYCLES
rm -rf /mnt/d$CYCLES
umount /mnt 2>/tmp/umount.err || finding "final umount failed: $(cat /tmp/umount.err)"
[ -s $ERR ] && exit 1
exit 0
