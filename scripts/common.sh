# Shared by the scripts: find the Swift toolchain and install what the project needs.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The Swift toolchain ships outside the Debian archive (/opt/swift on the project's machines).
if ! command -v swift >/dev/null 2>&1; then
    for dir in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
        [ -x "$dir/swift" ] && PATH="$dir:$PATH"
    done
    export PATH
fi
command -v swift >/dev/null 2>&1 || { echo "swift not found: install the Swift 6 toolchain first" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# The demo and the tests need root (network namespaces): run as root, or again through sudo
# where there is one.
become_root() {
    [ "$(id -u)" -eq 0 ] && return 0
    command -v sudo >/dev/null 2>&1 || { echo "$(basename "$0"): run as root (network namespaces need it)" >&2; exit 1; }
    exec sudo "$0" "$@"
}

# Debian packages: nft (the test oracle), ip/ss/unshare (namespaces), python3 (traffic probes),
# and the netlink libraries rampart links against.
# What `make deb` and its checks need (scripts/package-test.sh).
ensure_packaging_tools() {
    local missing=()
    command -v dh >/dev/null 2>&1 || missing+=(debhelper)
    command -v lintian >/dev/null 2>&1 || missing+=(lintian)
    command -v groff >/dev/null 2>&1 || missing+=(groff-base)
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "installing: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

ensure_packages() {
    local missing=()
    command -v nft >/dev/null 2>&1 || missing+=(nftables)
    command -v ip >/dev/null 2>&1 || missing+=(iproute2)
    command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    command -v tmux >/dev/null 2>&1 || missing+=(tmux)
    [ -e /usr/include/systemd/sd-journal.h ] || missing+=(libsystemd-dev)
    [ -e /usr/include/libnftnl/table.h ] || missing+=(libnftnl-dev)
    [ -e /usr/include/libmnl/libmnl.h ] || missing+=(libmnl-dev)
    # The fleet tests start a real etcd cluster (and its etcdctl); openssl makes their certificates.
    command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
    command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    # The negotiate tests run strongSwan's charon per namespace (docs/ipsec.md) and capture the wire.
    [ -x /usr/sbin/charon-systemd ] || missing+=(charon-systemd)
    [ -e /usr/lib/ipsec/plugins/libstrongswan-vici.so ] || missing+=(strongswan-swanctl)
    [ -e /usr/lib/ipsec/plugins/libstrongswan-openssl.so ] || missing+=(libstrongswan-standard-plugins)
    command -v tcpdump >/dev/null 2>&1 || missing+=(tcpdump)
    # rampartd as an ordinary user reaches charon's socket through an ACL (docs/ipsec.md).
    command -v setfacl >/dev/null 2>&1 || missing+=(acl)
    # This kernel may lack ESP/AH: those tests boot Debian's kernel in qemu (scripts/esp-vm.sh).
    command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
    [ -x /bin/busybox ] || missing+=(busybox-static)
    command -v cpio >/dev/null 2>&1 || missing+=(cpio)
    command -v depmod >/dev/null 2>&1 || missing+=(kmod)
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "installing: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}
