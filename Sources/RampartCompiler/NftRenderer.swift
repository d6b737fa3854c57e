import RampartPolicy

/// Renders a `Ruleset` as an nft script. The script replaces table `inet rampart` atomically
/// (declare, delete, define in one `nft -f` transaction) and touches no other table.
public enum NftRenderer {
    public static func script(_ ruleset: Ruleset, header: String? = nil) -> String {
        var out = ""
        if let header {
            for line in header.split(separator: "\n", omittingEmptySubsequences: false) { out += "# \(line)\n" }
        }
        out += "table inet \(Ruleset.tableName)\n"
        out += "delete table inet \(Ruleset.tableName)\n"
        out += table(ruleset)
        return out
    }

    public static func table(_ ruleset: Ruleset) -> String {
        var out = "table inet \(Ruleset.tableName) {\n"
        for set in ruleset.sets {
            out += "\tset \(set.name) {\n"
            out += "\t\ttype \(set.family == .ipv4 ? "ipv4_addr" : "ipv6_addr")\n"
            out += "\t\tflags interval\n"
            if !set.elements.isEmpty {
                out += "\t\telements = { " + set.elements.map(\.description).joined(separator: ", ") + " }\n"
            }
            out += "\t}\n"
        }
        for set in ruleset.filterSets {
            out += "\tset \(set.name) {\n"
            out += "\t\ttype \(type(set.key))\n"
            // Each element counts its own packets and names its filter.
            out += "\t\tcounter\n"
            if !set.elements.isEmpty {
                out +=
                    "\t\telements = { "
                    + set.elements.map { "\(element($0)) comment \"\($0.id)\"" }.joined(separator: ", ") + " }\n"
            }
            out += "\t}\n"
        }
        for set in ruleset.portSets {
            out += "\tset \(set.name) {\n"
            out += "\t\ttype inet_service\n"
            out += "\t\tflags interval\n"
            out += "\t\telements = { \(set.elementsText) }\n"
            out += "\t}\n"
        }
        for chain in ruleset.chains {
            out += "\tchain \(chain.name) {\n"
            if let hook = chain.hook {
                out +=
                    "\t\ttype filter hook \(hook.rawValue) priority \(priority(chain.priority)); policy \(chain.policy.rawValue);\n"
            }
            for rule in chain.rules { out += "\t\t" + self.rule(rule) + "\n" }
            out += "\t}\n"
        }
        out += "}\n"
        return out
    }

    /// `ipv4_addr . inet_service`, `ipv6_addr`, `inet_service`.
    public static func type(_ key: FilterSet.Key) -> String {
        [key.address.map { $0.family == .ipv4 ? "ipv4_addr" : "ipv6_addr" }, key.port.map { _ in "inet_service" }]
            .compactMap { $0 }.joined(separator: " . ")
    }

    /// `198.51.100.0 . 22`
    public static func element(_ e: FilterSet.Element) -> String {
        [e.address?.description, e.port.map(String.init)].compactMap { $0 }.joined(separator: " . ")
    }

    /// `ip saddr & 255.255.255.0 . tcp dport`
    public static func key(_ key: FilterSet.Key) -> String {
        var fields: [String] = []
        if let a = key.address {
            let field = (a.family == .ipv4 ? "ip " : "ip6 ") + (a.side == .source ? "saddr" : "daddr")
            fields.append(
                a.length == a.family.bits
                    ? field
                    : "\(field) & \(IPAddress(family: a.family, numeric: IPAddress.mask(prefix: a.length, family: a.family)))"
            )
        }
        if let p = key.port {
            fields.append("\(portProtocols[p.proto] ?? "th") \(p.side == .source ? "sport" : "dport")")
        }
        return fields.joined(separator: " . ")
    }

    static func priority(_ p: Int) -> String {
        p == 0 ? "filter" : (p > 0 ? "filter + \(p)" : "filter - \(-p)")
    }

    public static func rule(_ rule: RuleSpec) -> String {
        var parts = rule.matches.map(match) + rule.statements.map(statement)
        parts.append("comment \"\(rule.id)\"")
        return parts.joined(separator: " ")
    }

    static let protocolNames: [UInt8: String] = [
        1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 47: "gre", 50: "esp", 51: "ah", 58: "ipv6-icmp",
        132: "sctp", 136: "udplite"
    ]

    /// `tcp`, `udp`, `icmp`, …, or the number.
    public static func protocolName(_ n: UInt8) -> String { protocolNames[n] ?? String(n) }

    static let portProtocols: [UInt8: String] = [6: "tcp", 17: "udp", 132: "sctp", 136: "udplite"]

    public static func match(_ m: Match) -> String {
        switch m {
        case .inputInterface(let name): return "iif \"\(name)\""
        case .outputInterface(let name): return "oif \"\(name)\""
        case .linkType(let hook, let c):
            let key = hook == .input ? "meta iiftype" : "meta oiftype"
            return "\(key) \(c == .dialup ? ">=" : "<") \(ConnectionType.firstDialupLinkType)"
        case .address(let side, let a):
            let key = (a.family == .ipv4 ? "ip " : "ip6 ") + (side == .source ? "saddr" : "daddr")
            switch a {
            case .prefix(let ip, let p): return "\(key) \(p == ip.family.bits ? ip.description : "\(ip)/\(p)")"
            case .range(let x, let y): return "\(key) \(x)-\(y)"
            case .set(let name, _): return "\(key) @\(name)"
            }
        case .filterSet(let name, let k): return "\(key(k)) @\(name)"
        case .fibAddressType(let side, let type):
            return "fib \(side == .source ? "saddr" : "daddr") type \(type.rawValue)"
        case .fibAddressTypeRange(let side, let low, let high):
            // nft lists it back as `type 2-5`; the spaces keep the names apart for its parser.
            return "fib \(side == .source ? "saddr" : "daddr") type \(low.rawValue) - \(high.rawValue)"
        case .l4proto(let n): return "meta l4proto \(protocolNames[n] ?? String(n))"
        case .port(let side, let proto, let port):
            return "\(portProtocols[proto] ?? "th") \(side == .source ? "sport" : "dport") \(port)"
        case .portRange(let side, let proto, let first, let last):
            return "\(portProtocols[proto] ?? "th") \(side == .source ? "sport" : "dport") \(first)-\(last)"
        case .portSet(let side, let proto, let set):
            return "\(portProtocols[proto] ?? "th") \(side == .source ? "sport" : "dport") @\(set)"
        case .tcpFlags(let flags): return flags.nftText
        case .icmpv6TypeRange(let a, let b): return a == b ? "icmpv6 type \(a)" : "icmpv6 type \(a)-\(b)"
        case .hopLimit(let n): return "ip6 hoplimit \(n)"
        case .ctState(let states): return "ct state " + states.map(\.rawValue).joined(separator: ",")
        case .ipsecInbound: return "meta ipsec exists"
        case .ipsecOutbound: return "rt ipsec exists"
        }
    }

    public static func statement(_ s: Statement) -> String {
        switch s {
        case .counter: return "counter"
        case .log(let prefix, let group): return "log prefix \"\(prefix)\" group \(group)"
        case .accept: return "accept"
        case .tproxy(let port): return "tproxy to :\(port)"
        case .drop: return "drop"
        }
    }

    /// The ruleset as JSON for tools: every rule with its id, origin and nft text.
    public static func json(_ ruleset: Ruleset) -> JSONValue {
        .object([
            ("table", .object([("family", .string("inet")), ("name", .string(Ruleset.tableName))])),
            ("sets", .array(ruleset.sets.map(json) + ruleset.filterSets.map(json) + ruleset.portSets.map(json))),
            ("chains", .array(ruleset.chains.map(json)))
        ])
    }

    static func json(_ s: NamedSet) -> JSONValue {
        .object([
            ("name", .string(s.name)), ("type", .string(s.family == .ipv4 ? "ipv4_addr" : "ipv6_addr")),
            ("source", .string(s.source)), ("elements", .array(s.elements.map { .string($0.description) }))
        ])
    }

    static func json(_ s: FilterSet) -> JSONValue {
        let elements = s.elements.map { JSONValue.object([("key", .string(element($0))), ("id", .string($0.id))]) }
        return .object([
            ("name", .string(s.name)), ("type", .string(type(s.key))), ("source", .string("filters")),
            ("key", .string(key(s.key))), ("elements", .array(elements))
        ])
    }

    static func json(_ s: PortSet) -> JSONValue {
        let elements = s.ranges.map {
            JSONValue.string($0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)")
        }
        return .object([
            ("name", .string(s.name)), ("type", .string("inet_service")), ("source", .string("port list")),
            ("elements", .array(elements))
        ])
    }

    static func json(_ c: Chain) -> JSONValue {
        let rules = c.rules.map { r in
            JSONValue.object([("id", .string(r.id)), ("origin", .string(r.origin)), ("nft", .string(rule(r)))])
        }
        return .object([
            ("name", .string(c.name)), ("hook", c.hook.map { .string($0.rawValue) } ?? .null),
            ("priority", .int(c.priority)),
            ("policy", .string(c.policy.rawValue)), ("rules", .array(rules))
        ])
    }
}
