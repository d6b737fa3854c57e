import CRampartSystem
import Glibc
import RampartPolicy

public struct HostLookupError: Error, Sendable {
    public var message: String
    public init(message: String) { self.message = message }
}

/// getaddrinfo(3) for one name: every IPv4 and IPv6 address, in the system resolver's order
/// (so /etc/hosts and nsswitch apply as for every other program).
public enum HostLookup {
    public static func resolve(_ name: String) -> Result<[IPAddress], HostLookupError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(name, nil, &hints, &result)
        guard status == 0, let first = result else {
            return .failure(HostLookupError(message: String(cString: gai_strerror(status))))
        }
        defer { freeaddrinfo(first) }
        var out: [IPAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if info.pointee.ai_family == AF_INET, let sa = info.pointee.ai_addr {
                let v4 = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    UInt32(bigEndian: $0.pointee.sin_addr.s_addr)
                }
                let a = IPAddress.v4(v4)
                if !out.contains(a) { out.append(a) }
            } else if info.pointee.ai_family == AF_INET6, let sa = info.pointee.ai_addr {
                let bytes = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                    withUnsafeBytes(of: p.pointee.sin6_addr) { Array($0) }
                }
                let a = IPAddress.v6(bytes.reduce(UInt128(0)) { $0 << 8 | UInt128($1) })
                if !out.contains(a) { out.append(a) }
            }
            cursor = info.pointee.ai_next
        }
        return .success(out)
    }
}
