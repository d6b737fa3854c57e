/// An IPv4 or IPv6 address as a plain value. Parsing and canonical printing are
/// hand-written so the core stays free of libc and of platform differences.
public enum IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    case v4(UInt32)
    case v6(UInt128)

    public enum Family: String, Codable, Sendable, CaseIterable {
        case ipv4, ipv6

        public var bits: Int { self == .ipv4 ? 32 : 128 }
    }

    public var family: Family {
        switch self {
        case .v4: return .ipv4
        case .v6: return .ipv6
        }
    }

    /// The address as an unsigned number, widened for IPv4.
    public var numeric: UInt128 {
        switch self {
        case .v4(let v): return UInt128(v)
        case .v6(let v): return v
        }
    }

    public init(family: Family, numeric: UInt128) {
        switch family {
        case .ipv4: self = .v4(UInt32(truncatingIfNeeded: numeric))
        case .ipv6: self = .v6(numeric)
        }
    }

    public init?(_ text: Substring) {
        if let v4 = IPAddress.parseV4(text) {
            self = .v4(v4)
        } else if let v6 = IPAddress.parseV6(String(text)) {
            self = .v6(v6)
        } else {
            return nil
        }
    }

    /// Parses dotted IPv4 or RFC 4291 IPv6 text (with an optional embedded IPv4 tail).
    /// A zone id (`fe80::1%eth0`) is not accepted here; callers strip it where it is legal.
    public init?(_ text: String) {
        if let v4 = IPAddress.parseV4(text[...]) {
            self = .v4(v4)
        } else if let v6 = IPAddress.parseV6(text) {
            self = .v6(v6)
        } else {
            return nil
        }
    }

    /// Byte by byte: addresses are parsed for every filter of a store and every line of a script.
    static func parseV4(_ text: Substring) -> UInt32? {
        var value: UInt32 = 0, octet: UInt32 = 0, digits = 0, dots = 0
        for b in text.utf8 {
            if b == UInt8(ascii: ".") {
                guard digits > 0, dots < 3 else { return nil }
                value = value << 8 | octet
                octet = 0
                digits = 0
                dots += 1
            } else if b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") {
                guard digits < 3 else { return nil }
                octet = octet * 10 + UInt32(b - UInt8(ascii: "0"))
                digits += 1
                guard octet <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard dots == 3, digits > 0 else { return nil }
        return value << 8 | octet
    }

    static func parseV6(_ text: String) -> UInt128? {
        guard text.contains(":"), text.count <= 45 else { return nil }
        let halves = text.split(separator: "::", omittingEmptySubsequences: false).map(String.init)
        guard halves.count <= 2 else { return nil }
        func groups(_ s: String) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            let items = s.split(separator: ":", omittingEmptySubsequences: false)
            for (index, item) in items.enumerated() {
                if item.contains("."), index == items.count - 1, let v4 = parseV4(item) {
                    out.append(UInt16(v4 >> 16))
                    out.append(UInt16(v4 & 0xffff))
                } else {
                    guard !item.isEmpty, item.count <= 4, let g = UInt16(item, radix: 16) else { return nil }
                    out.append(g)
                }
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all: [UInt16]
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count <= 7 else { return nil }
            all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard head.count == 8 else { return nil }
            all = head
        }
        return all.reduce(UInt128(0)) { $0 << 16 | UInt128($1) }
    }

    public var description: String {
        switch self {
        case .v4(let v):
            return "\(v >> 24).\(v >> 16 & 0xff).\(v >> 8 & 0xff).\(v & 0xff)"
        case .v6(let v):
            if v >> 32 == 0xffff {
                return "::ffff:" + IPAddress.v4(UInt32(truncatingIfNeeded: v)).description
            }
            let groups = (0..<8).map { UInt16(truncatingIfNeeded: v >> UInt128(112 - 16 * $0)) }
            // RFC 5952: compress the longest run (length >= 2) of zero groups, the first on ties.
            var best = (start: -1, length: 0)
            var index = 0
            while index < 8 {
                if groups[index] == 0 {
                    var end = index
                    while end < 8 && groups[end] == 0 { end += 1 }
                    if end - index > best.length && end - index >= 2 { best = (index, end - index) }
                    index = end
                } else {
                    index += 1
                }
            }
            func hex(_ g: ArraySlice<UInt16>) -> String { g.map { String($0, radix: 16) }.joined(separator: ":") }
            if best.start < 0 { return hex(groups[...]) }
            return hex(groups[..<best.start]) + "::" + hex(groups[(best.start + best.length)...])
        }
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        if lhs.family != rhs.family { return lhs.family == .ipv4 }
        return lhs.numeric < rhs.numeric
    }

    /// The network mask with `prefix` leading one bits for `family`.
    public static func mask(prefix: Int, family: Family) -> UInt128 {
        let bits = family.bits
        if prefix <= 0 { return 0 }
        let all: UInt128 = bits == 128 ? ~0 : (UInt128(1) << UInt128(bits)) - 1
        return all & ~((UInt128(1) << UInt128(bits - min(prefix, bits))) - 1) & all
    }

    public func masked(prefix: Int) -> IPAddress {
        IPAddress(family: family, numeric: numeric & IPAddress.mask(prefix: prefix, family: family))
    }
}

extension IPAddress: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = IPAddress(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "invalid IP address '\(text)'"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// An inclusive range of addresses of one family; prefixes are ranges too.
public struct AddressRange: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var first: IPAddress
    public var last: IPAddress

    public init(first: IPAddress, last: IPAddress) {
        self.first = first
        self.last = last
    }

    public init(prefix address: IPAddress, length: Int) {
        let net = address.masked(prefix: length)
        let hostBits = UInt128(address.family.bits - length)
        let span: UInt128 = hostBits >= 128 ? ~0 : (UInt128(1) << hostBits) - 1
        self.first = net
        self.last = IPAddress(family: address.family, numeric: net.numeric | span)
    }

    public var family: IPAddress.Family { first.family }

    /// The prefix length when the range is exactly one CIDR block.
    public var prefixLength: Int? {
        let size = last.numeric &- first.numeric
        if size == ~0 { return 0 }
        let count = size &+ 1
        guard count & (count &- 1) == 0 else { return nil }
        let hostBits = count.trailingZeroBitCount
        guard first.numeric & (count &- 1) == 0 else { return nil }
        return family.bits - hostBits
    }

    public var description: String {
        if first == last { return first.description }
        if let p = prefixLength { return "\(first)/\(p)" }
        return "\(first)-\(last)"
    }

    public static func < (lhs: AddressRange, rhs: AddressRange) -> Bool {
        (lhs.first, lhs.last) < (rhs.first, rhs.last)
    }

    /// Sorts and merges overlapping or adjacent ranges, per family. nft rejects
    /// overlapping elements in an interval set, so every element list goes through this.
    public static func normalize(_ ranges: [AddressRange]) -> [AddressRange] {
        var out: [AddressRange] = []
        for r in ranges.sorted() {
            if var lastRange = out.last, lastRange.family == r.family,
                r.first.numeric <= lastRange.last.numeric || r.first.numeric == lastRange.last.numeric &+ 1
            {
                if r.last.numeric > lastRange.last.numeric { lastRange.last = r.last }
                out[out.count - 1] = lastRange
            } else {
                out.append(r)
            }
        }
        return out
    }
}

/// A host's addresses as the kernel's local table has them: its own, the subnet broadcast
/// addresses and the subnet-router anycast addresses (read by `LocalAddresses`, matched by `Host`).
public protocol HostAddresses {
    var local: [IPAddress] { get }
    var broadcast: [IPAddress] { get }
    var anycast: [IPAddress] { get }
}
