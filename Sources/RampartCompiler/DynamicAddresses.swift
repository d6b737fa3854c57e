import RampartPolicy

/// A snapshot of the addresses that follow the system: server types and resolved host names.
/// Plain input data for the compiler; the daemon fills it from resolv.conf, leases and routes.
public struct DynamicAddresses: Sendable, Equatable, Codable {
    public var dns: [IPAddress] = []
    public var wins: [IPAddress] = []
    public var dhcp: [IPAddress] = []
    public var gateway: [IPAddress] = []
    /// Lower-cased host name → every A/AAAA record.
    public var names: [String: [IPAddress]] = [:]

    public init() {}

    enum CodingKeys: String, CodingKey { case dns, wins, dhcp, gateway, names }

    /// A snapshot may hold only what it knows (`{"dns": [...]}`): the rest is empty.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        dns = try c.decodeIfPresent([IPAddress].self, forKey: .dns) ?? []
        wins = try c.decodeIfPresent([IPAddress].self, forKey: .wins) ?? []
        dhcp = try c.decodeIfPresent([IPAddress].self, forKey: .dhcp) ?? []
        gateway = try c.decodeIfPresent([IPAddress].self, forKey: .gateway) ?? []
        names = try c.decodeIfPresent([String: [IPAddress]].self, forKey: .names) ?? [:]
    }

    public func addresses(for type: ServerType) -> [IPAddress] {
        switch type {
        case .dns: return dns
        case .wins: return wins
        case .dhcp: return dhcp
        case .gateway: return gateway
        }
    }
}

/// Names the named sets: `dns_v4`, `gateway_v6`, `host_update_example_com_v4`, `host_…_p24_v4`.
public enum SetNaming {
    public static func server(_ type: ServerType, _ family: IPAddress.Family) -> String {
        "\(type.rawValue.lowercased())_\(suffix(family))"
    }

    static func suffix(_ family: IPAddress.Family) -> String { family == .ipv4 ? "v4" : "v6" }

    /// A set of grouped filters: `input_f3c9a01b2_v4`, `output_f0e1d2c3b_v6`, `input_f7a6b5c4d` (ports
    /// only), `input_f3c9a01b2x2_v4` (a second run of the same shape) (`Grouping`).
    public static func isFilterSet(_ name: String) -> Bool {
        let parts = name.split(separator: "_")
        return (parts.count == 2 || parts.count == 3) && (parts[0] == "input" || parts[0] == "output")
            && parts[1].hasPrefix("f")
            && parts[1].count > 1 && parts[1].dropFirst().allSatisfy { $0.isHexDigit || $0 == "x" }
            && (parts.count == 2 || parts[2] == "v4" || parts[2] == "v6")
    }

    /// The name of a filter set: the chain, then 32 bits of FNV-1a over the shape of the rule
    /// that looks it up (its matches, verdict and whether it logs), so the same run keeps its name
    /// whatever else the policy gains or loses; `x2`, `x3` for further runs of one shape.
    static func filterSet(chain: String, shape: String, family: IPAddress.Family?, taken: inout Set<String>) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in shape.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        let digits = String(UInt32(truncatingIfNeeded: hash ^ (hash >> 32)), radix: 16)
        let base = "\(chain)_f" + String(repeating: "0", count: 8 - digits.count) + digits
        let tail = family.map { "_" + suffix($0) } ?? ""
        var name = base + tail
        var n = 2
        while taken.contains(name) {
            name = "\(base)x\(n)\(tail)"
            n += 1
        }
        taken.insert(name)
        return name
    }

    /// A set base name per (host name, prefix), unique even when sanitising makes two names collide.
    public static func hostSets(_ keys: [HostKey]) -> [HostKey: String] {
        var out: [HostKey: String] = [:]
        var used = Set<String>()
        for key in keys.sorted() {
            var base =
                "host_"
                + String(
                    key.name.lowercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" }.prefix(180))
            if let p = key.prefix { base += "_p\(p)" }
            var candidate = base
            var n = 2
            while used.contains(candidate) {
                candidate = "\(base)_\(n)"
                n += 1
            }
            used.insert(candidate)
            out[key] = candidate
        }
        return out
    }

    public struct HostKey: Hashable, Comparable, Sendable {
        public var name: String
        public var prefix: Int?

        public static func < (a: HostKey, b: HostKey) -> Bool { (a.name, a.prefix ?? 99) < (b.name, b.prefix ?? 99) }
    }
}
