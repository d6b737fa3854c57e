/// The IP protocol a filter matches.
public enum IPProtocolSpec: Hashable, Sendable, Codable, CustomStringConvertible {
    case any
    /// `ICMP` by name: ICMP for IPv4 and ICMPv6 for IPv6 (a rampart extension; the number 1 means IPv4 ICMP only).
    case icmp
    case number(UInt8)

    public static let tcp = IPProtocolSpec.number(6)
    public static let udp = IPProtocolSpec.number(17)

    public var isAny: Bool { self == .any }

    /// Protocols whose transport header carries ports at the usual offsets.
    public var hasPorts: Bool {
        if case .number(let n) = self { return n == 6 || n == 17 || n == 132 || n == 136 }
        return false
    }

    static let names: [(String, UInt8)] = [
        ("TCP", 6), ("UDP", 17), ("RAW", 255), ("GRE", 47), ("ESP", 50), ("AH", 51),
        ("ICMPV6", 58), ("RSVP", 46), ("SCTP", 132), ("UDPLITE", 136), ("IGMP", 2),
    ]

    public var description: String {
        switch self {
        case .any: return "ANY"
        case .icmp: return "ICMP"
        case .number(let n):
            return IPProtocolSpec.names.first(where: { $0.1 == n })?.0 ?? String(n)
        }
    }

    private enum Keys: String, CodingKey { case proto }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(UInt8.self) {
            self = .number(n)
            return
        }
        switch try c.decode(String.self) {
        case "any": self = .any
        case "icmp": self = .icmp
        case let other:
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "unknown protocol '\(other)'")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .any: try c.encode("any")
        case .icmp: try c.encode("icmp")
        case .number(let n): try c.encode(n)
        }
    }
}

/// One filter of a filter list. `mirrored` makes it two: this one and its reverse.
public struct Filter: Hashable, Sendable, Codable {
    /// Store-wide creation number; the last ordering tie-break and the filter's identifier (`F<seq>`).
    public var seq: Int
    public var source: AddressSpec
    public var destination: AddressSpec
    public var proto: IPProtocolSpec
    /// 0 means any port.
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var mirrored: Bool
    public var description: String

    public init(seq: Int, source: AddressSpec, destination: AddressSpec, proto: IPProtocolSpec = .any,
                sourcePort: UInt16 = 0, destinationPort: UInt16 = 0, mirrored: Bool = true, description: String = "") {
        self.seq = seq
        self.source = source
        self.destination = destination
        self.proto = proto
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.mirrored = mirrored
        self.description = description
    }

    /// Equality of everything that matches packets (what `delete filter` and duplicate detection compare).
    public func sameMatch(as other: Filter) -> Bool {
        source == other.source && destination == other.destination && proto == other.proto
            && sourcePort == other.sourcePort && destinationPort == other.destinationPort && mirrored == other.mirrored
    }

    public var identifier: String { "F\(seq)" }

    /// What `sameMatch` compares, as a hashable value.
    public var matchKey: MatchKey {
        MatchKey(source: source, destination: destination, proto: proto, sourcePort: sourcePort,
                 destinationPort: destinationPort, mirrored: mirrored)
    }

    public struct MatchKey: Hashable, Sendable {
        var source: AddressSpec
        var destination: AddressSpec
        var proto: IPProtocolSpec
        var sourcePort: UInt16
        var destinationPort: UInt16
        var mirrored: Bool
    }
}

public struct FilterList: Hashable, Sendable, Codable {
    public var name: String
    public var description: String
    public var guid: String
    public var seq: Int
    public var filters: [Filter]

    public init(name: String, description: String = "", guid: String, seq: Int, filters: [Filter] = []) {
        self.name = name
        self.description = description
        self.guid = guid
        self.seq = seq
        self.filters = filters
    }
}
