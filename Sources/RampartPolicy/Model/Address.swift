/// The server types whose addresses follow the machine's own configuration.
public enum ServerType: String, Codable, Sendable, CaseIterable, Comparable {
    case dns = "DNS"
    case wins = "WINS"
    case dhcp = "DHCP"
    case gateway = "GATEWAY"

    public static func < (a: ServerType, b: ServerType) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One side of a filter: what `srcaddr=`/`dstaddr=` plus `srcmask=`/`dstmask=` describe.
public enum AddressSpec: Hashable, Sendable {
    /// Every address configured on this machine.
    case me
    /// Any address (0 mask bits).
    case any
    /// An address with a prefix length (a host has the full length).
    case subnet(IPAddress, prefix: Int)
    /// An inclusive range `a-b` (a Windows Vista extension; no mask).
    case range(IPAddress, IPAddress)
    /// A DNS host name, resolved at run time to every A/AAAA record; the prefix applies to each.
    case dnsName(String, prefix: Int?)
    /// The machine's DNS, WINS, DHCP servers or default gateway.
    case server(ServerType)
    /// An address group of the filter's own store (`group:Admins`, an extension).
    case group(String)

    /// Fossen's specificity class: S (single), R (range or subnet), A (any).
    public enum Specificity: String, Sendable, Comparable {
        case single = "S", range = "R", any = "A"

        public static func < (a: Specificity, b: Specificity) -> Bool {
            let order: [Specificity] = [.single, .range, .any]
            return order.firstIndex(of: a)! < order.firstIndex(of: b)!
        }
    }

    public var specificity: Specificity {
        switch self {
        case .me, .server: return .single
        case .any: return .any
        case .subnet(let a, let p):
            if p == 0 { return .any }
            return p == a.family.bits ? .single : .range
        case .range(let a, let b): return a == b ? .single : .range
        case .dnsName(_, let p):
            guard let p else { return .single }
            return p == 0 ? .any : (p >= 32 ? .single : .range)
        // Its contents change without a recompile, so its rank cannot depend on them: a range.
        case .group: return .range
        }
    }

    /// Host bits left open by the mask: 0 for a single host, the family width for `any`.
    /// Counting open bits rather than mask bits lets IPv4 and IPv6 compare fairly.
    public var wildcardBits: Int {
        switch self {
        case .me, .server: return 0
        case .any: return 128
        case .subnet(let a, let p): return p == 0 ? 128 : a.family.bits - p
        case .range(let a, let b):
            let count = b.numeric &- a.numeric
            return count == 0 ? 0 : (128 - count.leadingZeroBitCount)
        case .dnsName(_, let p):
            guard let p else { return 0 }
            return p == 0 ? 128 : max(0, 32 - p)
        // After every literal subnet and range of its class (127 open bits), before `any`.
        case .group: return 127
        }
    }

    /// The single family this side is limited to, if any.
    public var family: IPAddress.Family? {
        switch self {
        case .subnet(let a, let p): return p == 0 ? nil : a.family
        case .range(let a, _): return a.family
        case .me, .any, .server, .dnsName, .group: return nil
        }
    }

    public var isMe: Bool { if case .me = self { return true } else { return false } }
    public var isGroup: Bool { if case .group = self { return true } else { return false } }
    public var isAny: Bool {
        if case .any = self { return true }
        if case .subnet(_, 0) = self { return true }
        return false
    }
}

extension AddressSpec: CustomStringConvertible {
    /// The netsh spelling, usable in `srcaddr=` (with the mask given separately by `maskText`).
    public var description: String {
        switch self {
        case .me: return "me"
        case .any: return "any"
        case .subnet(let a, _): return a.description
        case .range(let a, let b): return "\(a)-\(b)"
        case .dnsName(let n, _): return n
        case .server(let t): return t.rawValue
        case .group(let g): return "group:\(g)"
        }
    }

    /// The mask in prefix form, or nil where netsh has none to give.
    public var maskText: String? {
        switch self {
        case .subnet(let a, let p) where p != a.family.bits: return String(p)
        case .dnsName(_, let p?): return String(p)
        default: return nil
        }
    }

    /// A one-token human form used in listings: `192.0.2.0/24`, `me`, `DNS`, `host.example/24`.
    public var display: String {
        switch self {
        case .subnet(let a, let p): return p == a.family.bits ? a.description : "\(a)/\(p)"
        case .dnsName(let n, let p?): return "\(n)/\(p)"
        default: return description
        }
    }
}

extension AddressSpec: Codable {
    private enum Keys: String, CodingKey { case kind, address, prefix, last, name, server, group }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        switch try c.decode(String.self, forKey: .kind) {
        case "me": self = .me
        case "any": self = .any
        case "subnet":
            let a = try c.decode(IPAddress.self, forKey: .address)
            let p = try c.decode(Int.self, forKey: .prefix)
            guard (0...a.family.bits).contains(p) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .prefix, in: c, debugDescription: "prefix \(p) out of range")
            }
            self = .subnet(a, prefix: p)
        case "range":
            let a = try c.decode(IPAddress.self, forKey: .address)
            let b = try c.decode(IPAddress.self, forKey: .last)
            guard a.family == b.family, a <= b else {
                throw DecodingError.dataCorruptedError(forKey: .last, in: c, debugDescription: "invalid range")
            }
            self = .range(a, b)
        case "dnsName":
            self = .dnsName(
                try c.decode(String.self, forKey: .name), prefix: try c.decodeIfPresent(Int.self, forKey: .prefix))
        case "server": self = .server(try c.decode(ServerType.self, forKey: .server))
        case "group": self = .group(try c.decode(String.self, forKey: .group))
        case let other:
            throw DecodingError.dataCorruptedError(
                forKey: .kind, in: c, debugDescription: "unknown address kind '\(other)'")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        switch self {
        case .me: try c.encode("me", forKey: .kind)
        case .any: try c.encode("any", forKey: .kind)
        case .subnet(let a, let p):
            try c.encode("subnet", forKey: .kind)
            try c.encode(a, forKey: .address)
            try c.encode(p, forKey: .prefix)
        case .range(let a, let b):
            try c.encode("range", forKey: .kind)
            try c.encode(a, forKey: .address)
            try c.encode(b, forKey: .last)
        case .dnsName(let n, let p):
            try c.encode("dnsName", forKey: .kind)
            try c.encode(n, forKey: .name)
            try c.encodeIfPresent(p, forKey: .prefix)
        case .server(let t):
            try c.encode("server", forKey: .kind)
            try c.encode(t, forKey: .server)
        case .group(let g):
            try c.encode("group", forKey: .kind)
            try c.encode(g, forKey: .group)
        }
    }
}
