#!/bin/bash
# PID 1 of the ESP VM (scripts/esp-vm.sh), on the host's root file system shared read-only: give
# the guest its own writable /tmp, /run and the kernel's modules, run the command in the out share,
# write its status there, power off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm 2>/dev/null
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${RAMPART_VM_CACHE:-$repo/.build/esp-vm}
# The guest's own /tmp and /var/tmp; a checkout (or cache) under them stays where it was, bound back.
for d in /tmp /var/tmp; do
    mkdir -p "/run/host$d"
    mount --bind "$d" "/run/host$d"
    mount -t tmpfs tmpfs "$d"
    for keep in "$repo" "$cache"; do
        case "$keep" in
            "$d"/*) mkdir -p "$keep"; mount --bind "/run/host$d/${keep#"$d"/}" "$keep" ;;
        esac
    done
done
# The shared root has no /lib/modules for this kernel (and cannot get one): the kernel's module
# requests go to a modprobe that looks in the unpacked package instead.
printf '#!/bin/sh\nexec /sbin/modprobe -d %s "$@"\n' "$cache/root" > /run/modprobe
chmod 755 /run/modprobe
echo /run/modprobe > /proc/sys/kernel/modprobe
mkdir -p /run/out
mount -t 9p -o trans=virtio,version=9p2000.L out /run/out
ip link set lo up
hostname esp-vm
# Loaded up front: a module the kernel loads in the middle of an nftables transaction makes it
# replay the batch, slowly under emulation.
mods="$cache/root/lib/modules/$(uname -r)/kernel"
for m in esp4 esp6 ah4 ah6 xfrm_user veth nf_tables nfnetlink_log nf_log_syslog \
         $(cd "$mods/net" && ls netfilter/nft_*.ko* ipv4/netfilter/nft_*.ko* ipv6/netfilter/nft_*.ko* 2>/dev/null | sed 's|.*/||; s|\.ko.*||'); do
    /run/modprobe "$m" 2>/dev/null
done
cd "$repo"
bash /run/out/cmd > /run/out/log 2>&1
echo $? > /run/out/rc
sync
umount /run/out
echo o > /proc/sysrq-trigger
sleep 10
