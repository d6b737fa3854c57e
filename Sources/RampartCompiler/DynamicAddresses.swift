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

    /// A set of grouped filters: `input_f3_v4`, `output_f1_v6`, `input_f2` (ports only) (`Grouping`).
    public static func isFilterSet(_ name: String) -> Bool {
        let parts = name.split(separator: "_")
        return (parts.count == 2 || parts.count == 3) && (parts[0] == "input" || parts[0] == "output")
            && parts[1].hasPrefix("f")
            && parts[1].count > 1 && parts[1].dropFirst().allSatisfy(\.isNumber)
            && (parts.count == 2 || parts[2] == "v4" || parts[2] == "v6")
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
