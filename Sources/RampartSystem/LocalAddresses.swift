import Glibc
import RampartPolicy

/// The addresses configured on this network namespace's interfaces (getifaddrs): what `me` is.
public enum LocalAddresses {
    public static func current() -> [IPAddress] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(first) }
        var out: [IPAddress] = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            if let sa = entry.pointee.ifa_addr {
                if sa.pointee.sa_family == sa_family_t(AF_INET) {
                    let v4 = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
                    out.append(.v4(v4))
                } else if sa.pointee.sa_family == sa_family_t(AF_INET6) {
                    let bytes = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in withUnsafeBytes(of: p.pointee.sin6_addr) { Array($0) } }
                    out.append(.v6(bytes.reduce(UInt128(0)) { $0 << 8 | UInt128($1) }))
                }
            }
            cursor = entry.pointee.ifa_next
        }
        return Array(Set(out)).sorted()
    }
}
