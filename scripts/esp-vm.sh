#!/bin/bash
# Runs a command as root inside a virtual machine that boots Debian's own kernel (linux-image-amd64:
# ESP, AH and the xfrm crypto as modules), with this machine's root file system shared read-only
# over 9p. For the tests that need IPsec in the kernel when the host's kernel has none
# (docs/ipsec.md#tests). The VM has no network device: its tests build namespaces inside it.
#
#   scripts/esp-vm.sh prepare          download and unpack the kernel, build the initramfs (once)
#   scripts/esp-vm.sh run OUT CMD...   boot, run CMD in bash; OUT gets log (its output) and rc
#
# Software emulation (TCG). RAMPART_VM_CACHE: where the kernel
# and the initramfs are kept (default .build/esp-vm).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${RAMPART_VM_CACHE:-$here/.build/esp-vm}

prepare() {
    if [ -f "$cache/ready" ]; then return 0; fi
    for tool in qemu-system-x86_64 busybox depmod modprobe; do
        command -v "$tool" >/dev/null || { echo "esp-vm: $tool is missing (scripts/common.sh ensure_packages installs it)" >&2; exit 2; }
    done
    rm -rf "$cache" && mkdir -p "$cache/deb" "$cache/root" "$cache/initramfs/bin" "$cache/initramfs/modules"
    local pkg
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    if [ -z "$pkg" ]; then
        apt-get update -qq >/dev/null 2>&1 || true
        pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    fi
    [ -n "$pkg" ] || { echo "esp-vm: apt does not know linux-image-amd64" >&2; exit 2; }
    (cd "$cache/deb" && apt-get download "$pkg" >/dev/null 2>&1) || { echo "esp-vm: cannot download $pkg" >&2; exit 2; }
    dpkg-deb -x "$cache"/deb/*.deb "$cache/root"
    local kver
    kver=$(ls "$cache/root/lib/modules")
    depmod -b "$cache/root" "$kver"
    # The initramfs only has to reach the shared root: virtio PCI and 9p.
    local order=()
    local m line
    for m in virtio_pci 9pnet_virtio 9p; do
        while read -r line; do
            line=${line#insmod }
            line=${line%% *}
            [ -n "$line" ] || continue
            local base
            base=$(basename "$line")
            if [ ! -f "$cache/initramfs/modules/$base" ]; then
                cp "$line" "$cache/initramfs/modules/$base"
                order+=("$base")
            fi
        done < <(modprobe -d "$cache/root" -S "$kver" --show-depends "$m")
    done
    printf '%s\n' "${order[@]}" > "$cache/initramfs/modules.order"
    cp "$(command -v busybox)" "$cache/initramfs/bin/busybox"
    cat > "$cache/initramfs/init" <<'EOF'
#!/bin/busybox sh
# Load virtio and 9p, mount the host's root read-only, and hand over to the guest script on it.
/bin/busybox mkdir -p /proc /dev /newroot
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs dev /dev
for m in $(/bin/busybox cat /modules.order); do /bin/busybox insmod /modules/$m || echo "init: insmod $m failed"; done
script=""
for word in $(/bin/busybox cat /proc/cmdline); do
    case "$word" in rampart.script=*) script=${word#rampart.script=} ;; esac
done
/bin/busybox mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /newroot || { echo "init: no root"; /bin/busybox poweroff -f; }
/bin/busybox umount /proc
exec /bin/busybox switch_root /newroot /bin/bash "$script"
EOF
    chmod 755 "$cache/initramfs/init"
    (cd "$cache/initramfs" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > "$cache/initramfs.gz")
    cp "$cache/root/boot/vmlinuz-$kver" "$cache/vmlinuz"
    echo "$kver" > "$cache/kver"
    touch "$cache/ready"
}

run() {
    local out=$1
    shift
    prepare
    mkdir -p "$out"
    rm -f "$out/log" "$out/rc"
    printf '%s\n' "$*" > "$out/cmd"
    # Software emulation: KVM may be there and still not run a guest (nested virtualisation), and
    # a guest that hangs is worse than a slow one.
    timeout "${RAMPART_VM_TIMEOUT:-1200}" qemu-system-x86_64 -accel tcg -cpu max -m 4096 -smp 2 -nographic -no-reboot \
        -kernel "$cache/vmlinuz" -initrd "$cache/initramfs.gz" \
        -append "console=ttyS0 panic=-1 loglevel=3 rampart.script=$here/scripts/esp-vm-guest.sh" \
        -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
        -virtfs "local,path=$out,mount_tag=out,security_model=none" \
        > "$out/console" 2>&1 || true
    [ -f "$out/rc" ] || { echo "esp-vm: the VM ended without a result; its console:" >&2; tail -40 "$out/console" >&2; return 2; }
    return "$(cat "$out/rc")"
}

case "${1:-}" in
    prepare) prepare ;;
    run) shift; run "$@" ;;
    *) echo "usage: $0 prepare | run OUT CMD..." >&2; exit 2 ;;
esac
