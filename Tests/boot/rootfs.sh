# Sourced by the boot tests (after scripts/common.sh): the tools, the cached Debian rootfs
# (/var/tmp/rampart-rootfs-bookworm, built once) and a throwaway overlay of it, $root, removed
# with everything under $work when the script exits. See shared/reference/systemd-boot-test.md.
boot_extra_cleanup() { :; }

ensure_boot_tools() {
    if ! command -v systemd-nspawn >/dev/null || ! command -v debootstrap >/dev/null; then
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd-container debootstrap >/dev/null
    fi
}

mount_overlay_root() {
    local cache=/var/tmp/rampart-rootfs-bookworm
    (
        flock 9
        if [ ! -e "$cache/.complete" ]; then
            rm -rf "$cache"
            # The mirror apt is configured with on this machine.
            local mirror
            mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
            [ -n "$mirror" ] || mirror="$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list)"
            debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,nftables,iproute2,procps,libnftnl11,libmnl0 \
                bookworm "$cache" "$mirror" >/var/tmp/rampart-debootstrap.log 2>&1
            touch "$cache/.complete"
        fi
    ) 9>/var/tmp/rampart-rootfs.lock
    work="$(mktemp -d /var/tmp/rampart-boot.XXXXXX)"
    root="$work/root"
    mkdir -p "$work/upper" "$work/work" "$root"
    trap boot_cleanup EXIT INT TERM
    mount -t overlay overlay -o "lowerdir=$cache,upperdir=$work/upper,workdir=$work/work" "$root"
}

boot_cleanup() {
    for pid in $(pgrep -f "systemd-nspawn.*$root" || true); do kill -9 "$pid" 2>/dev/null || true; done
    umount "$root" 2>/dev/null || umount -l "$root" 2>/dev/null || true
    boot_extra_cleanup
    rm -rf "$work"
}
