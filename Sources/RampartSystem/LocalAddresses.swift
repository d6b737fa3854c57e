import Glibc
import RampartPolicy

/// The addresses configured on this network namespace's interfaces (getifaddrs): what `me` is.
public enum LocalAddresses {
    /// This host's own addresses, the subnet broadcast addresses of its IPv4 prefixes and the
    /// subnet-router anycast addresses of its IPv6 ones: what the kernel's local table holds.
    public struct Snapshot: Sendable, Equatable, HostAddresses {
        public var local: [IPAddress] = []
        public var broadcast: [IPAddress] = []
        public var anycast: [IPAddress] = []
    }

    public static func current() -> [IPAddress] { snapshot().local }

    public static func snapshot() -> Snapshot {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return Snapshot() }
        defer { freeifaddrs(first) }
        var local = Set<IPAddress>(), broadcast = Set<IPAddress>(), anycast = Set<IPAddress>()
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            cursor = entry.pointee.ifa_next
            guard let address = entry.pointee.ifa_addr.flatMap(address(of:)) else { continue }
            local.insert(address)
            let prefix = entry.pointee.ifa_netmask.flatMap(address(of:)).map { $0.numeric.nonzeroBitCount }
            if address.family == .ipv4 {
                // The kernel's local table has the subnet's broadcast (prefixes up to /30)
                // whether or not the address was given one (`ip addr add … brd +`), and that one.
                if let prefix, prefix < 31 {
                    broadcast.insert(
                        .v4(
                            UInt32(truncatingIfNeeded: address.numeric) | ~UInt32(
                                truncatingIfNeeded: IPAddress.mask(prefix: prefix, family: .ipv4))))
                }
                if Int(entry.pointee.ifa_flags) & Int(IFF_BROADCAST) != 0,
                    let b = entry.pointee.ifa_ifu.ifu_broadaddr.flatMap(address(of:)), b.numeric != 0
                {
                    broadcast.insert(b)
                }
            }
            // The kernel adds PREFIX:: as an anycast address for every IPv6 prefix shorter than /127.
            if address.family == .ipv6, let prefix, prefix < 127 {
                anycast.insert(address.masked(prefix: prefix))
            }
        }
        return Snapshot(
            local: local.sorted(), broadcast: broadcast.sorted(), anycast: anycast.subtracting(local).sorted())
    }

    /// The link type (ARPHRD_*, `/sys/class/net/NAME/type`) of the interface that holds each
    /// local address: what a rule's `conntype=` sees for a session to that address. An address
    /// whose interface's type cannot be read is left out (taken as Ethernet).
    public static func linkTypes() -> [IPAddress: UInt16] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [:] }
        defer { freeifaddrs(first) }
        var types: [IPAddress: UInt16] = [:], byName: [String: UInt16?] = [:]
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            cursor = entry.pointee.ifa_next
            guard let address = entry.pointee.ifa_addr.flatMap(address(of:)), let label = entry.pointee.ifa_name
            else { continue }
            // An alias label (`eth0:1`) names its device's address.
            let name = String(cString: label).split(separator: ":").first.map(String.init) ?? ""
            guard !name.isEmpty, !name.contains("/"), !name.hasPrefix(".") else { continue }
            let type =
                byName[name]
                ?? SourceFile.text("/sys/class/net/\(name)/type", limit: 64).flatMap {
                    $0.split(whereSeparator: { $0 == "\n" || $0 == " " }).first.flatMap { UInt16($0) }
                }
            byName[name] = type
            if let type { types[address] = type }
        }
        return types
    }

    static func address(of sa: UnsafeMutablePointer<sockaddr>) -> IPAddress? {
        if sa.pointee.sa_family == sa_family_t(AF_INET) {
            return sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                .v4(UInt32(bigEndian: $0.pointee.sin_addr.s_addr))
            }
        }
        if sa.pointee.sa_family == sa_family_t(AF_INET6) {
            let bytes = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                withUnsafeBytes(of: p.pointee.sin6_addr) { Array($0) }
            }
            return .v6(bytes.reduce(UInt128(0)) { $0 << 8 | UInt128($1) })
        }
        return nil
    }
}
