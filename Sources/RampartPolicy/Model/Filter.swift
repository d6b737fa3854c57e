import Dispatch
import FoundationEssentials
import Synchronization

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
        ("ICMPV6", 58), ("RSVP", 46), ("SCTP", 132), ("UDPLITE", 136), ("IGMP", 2)
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
    /// 0 (`.any`) means any port; ranges and lists are an extension.
    public var sourcePort: PortMatch
    public var destinationPort: PortMatch
    /// TCP only, an extension: nil tests no flags.
    public var tcpFlags: TCPFlagMatch?
    public var mirrored: Bool
    /// `mirrored=stateful` (an extension): the mirror half matches only packets of connections
    /// the first half's traffic opened (`ct state established,related`), so a reply half such as
    /// "from port 80 to any local port" admits no new connection.
    public var statefulMirror: Bool = false
    public var description: String

    public init(
        seq: Int, source: AddressSpec, destination: AddressSpec, proto: IPProtocolSpec = .any,
        sourcePort: PortMatch = .any, destinationPort: PortMatch = .any, tcpFlags: TCPFlagMatch? = nil,
        mirrored: Bool = true, statefulMirror: Bool = false, description: String = ""
    ) {
        self.seq = seq
        self.source = source
        self.destination = destination
        self.proto = proto
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.tcpFlags = tcpFlags
        self.mirrored = mirrored
        self.statefulMirror = mirrored && statefulMirror
        self.description = description
    }

    enum CodingKeys: String, CodingKey {
        case seq, source, destination, proto, sourcePort, destinationPort, tcpFlags, mirrored, statefulMirror,
            description
    }

    // Written by hand only so that stores from before `statefulMirror` (format 1) still read.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            seq: try c.decode(Int.self, forKey: .seq), source: try c.decode(AddressSpec.self, forKey: .source),
            destination: try c.decode(AddressSpec.self, forKey: .destination),
            proto: try c.decode(IPProtocolSpec.self, forKey: .proto),
            sourcePort: try c.decode(PortMatch.self, forKey: .sourcePort),
            destinationPort: try c.decode(PortMatch.self, forKey: .destinationPort),
            tcpFlags: try c.decodeIfPresent(TCPFlagMatch.self, forKey: .tcpFlags),
            mirrored: try c.decode(Bool.self, forKey: .mirrored),
            statefulMirror: try c.decodeIfPresent(Bool.self, forKey: .statefulMirror) ?? false,
            description: try c.decode(String.self, forKey: .description))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(seq, forKey: .seq)
        try c.encode(source, forKey: .source)
        try c.encode(destination, forKey: .destination)
        try c.encode(proto, forKey: .proto)
        try c.encode(sourcePort, forKey: .sourcePort)
        try c.encode(destinationPort, forKey: .destinationPort)
        try c.encodeIfPresent(tcpFlags, forKey: .tcpFlags)
        try c.encode(mirrored, forKey: .mirrored)
        if statefulMirror { try c.encode(true, forKey: .statefulMirror) }
        try c.encode(description, forKey: .description)
    }

    /// Equality of everything that matches packets (what `delete filter` and duplicate detection compare).
    public func sameMatch(as other: Filter) -> Bool {
        matchKey == other.matchKey
    }

    /// Uses something netsh's filter language cannot say (docs/extensions.md).
    public var usesExtensions: Bool {
        sourcePort.isExtension || destinationPort.isExtension || tcpFlags != nil || source.isGroup
            || destination.isGroup || statefulMirror
    }

    public var identifier: String { "F\(seq)" }

    /// What `sameMatch` compares, as a hashable value.
    public var matchKey: MatchKey {
        MatchKey(
            source: source, destination: destination, proto: proto, sourcePort: sourcePort,
            destinationPort: destinationPort, tcpFlags: tcpFlags, mirrored: mirrored, statefulMirror: statefulMirror)
    }

    public struct MatchKey: Hashable, Sendable {
        var source: AddressSpec
        var destination: AddressSpec
        var proto: IPProtocolSpec
        var sourcePort: PortMatch
        var destinationPort: PortMatch
        var tcpFlags: TCPFlagMatch?
        var mirrored: Bool
        var statefulMirror: Bool
    }
}

public struct FilterList: Hashable, Sendable {
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

/// A filter list's filters are objects in store format version 1 and lines (`Filter.storeLine`)
/// from version 2 on; the decoder is told which (`StoreCodec.filterForm`). Encoding writes lines.
extension FilterList: Codable {
    enum CodingKeys: String, CodingKey { case name, description, guid, seq, filters }

    struct Index: CodingKey {
        var intValue: Int?
        var stringValue: String { "\(intValue!)" }
        init(intValue: Int) { self.intValue = intValue }
        init?(stringValue: String) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decode(String.self, forKey: .description)
        guid = try c.decode(String.self, forKey: .guid)
        seq = try c.decode(Int.self, forKey: .seq)
        if decoder.userInfo[StoreCodec.filterForm] as? StoreCodec.FilterForm == .objects {
            filters = try c.decode([Filter].self, forKey: .filters)
            return
        }
        let lines = try c.decode([String].self, forKey: .filters)
        switch Filter.parse(lines) {
        case .success(let parsed): filters = parsed
        case .failure(let failure):
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: c.codingPath + [CodingKeys.filters, Index(intValue: failure.line)],
                    debugDescription: failure.error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(description, forKey: .description)
        try c.encode(guid, forKey: .guid)
        try c.encode(seq, forKey: .seq)
        try c.encode(Filter.lines(filters), forKey: .filters)
    }
}

/// The store's one-line form of a filter (store format version 2, docs/store-format.md):
/// `SEQ SOURCE DESTINATION PROTOCOL SOURCEPORT DESTINATIONPORT mirrored|one-way[ DESCRIPTION]`,
/// e.g. `12 198.51.100.0/24 me 6 0 22 mirrored SSH from the office`. The extensions keep the
/// seven fields: a port may be a range or list (`1024-65535`, `80,443`), and TCP flags follow the
/// protocol after a colon (`6:02/17`, value/mask in hex, `!` negated). Decoding 10,000 objects of
/// nine keys each was most of the time a one-shot `rampart apply` took; a line is a tenth of it.
extension Filter {
    struct LineFailure: Error {
        var line: Int
        var error: StoreError
    }

    /// The filters of `lines`, or the first line that is not one. Large lists are parsed on every
    /// core: a 100,000-filter list was a tenth of a one-shot `rampart apply` on one.
    static func parse(_ lines: [String]) -> Result<[Filter], LineFailure> {
        var all: [Filter] = []
        all.reserveCapacity(lines.count)
        for part in inChunks(lines.count, { parse(lines, $0) }) {
            switch part {
            case .success(let filters): all += filters
            case .failure(let failure): return .failure(failure)
            }
        }
        return .success(all)
    }

    /// `storeLine` of each filter, on every core for a large list (every save writes them all).
    static func lines(_ filters: [Filter]) -> [String] {
        inChunks(filters.count) { filters[$0].map(\.storeLine) }.flatMap { $0 }
    }

    /// `body` of consecutive ranges covering 0..<count, in order: one range per core when there are
    /// at least 4,096 items per core, else one.
    private static func inChunks<T: Sendable>(_ count: Int, _ body: @Sendable (Range<Int>) -> T) -> [T] {
        let chunks = min(ProcessInfo.processInfo.activeProcessorCount, count / 4096)
        guard chunks > 1 else { return [body(0..<count)] }
        let size = (count + chunks - 1) / chunks
        let parts = Mutex([Int: T]())
        DispatchQueue.concurrentPerform(iterations: chunks) { k in
            let part = body(k * size..<min(count, (k + 1) * size))
            parts.withLock { $0[k] = part }
        }
        return parts.withLock { parts in (0..<chunks).map { parts[$0]! } }
    }

    private static func parse(_ lines: [String], _ range: Range<Int>) -> Result<[Filter], LineFailure> {
        var out: [Filter] = []
        out.reserveCapacity(range.count)
        for i in range {
            do throws(StoreError) { out.append(try Filter(storeLine: lines[i])) } catch {
                return .failure(LineFailure(line: i, error: error))
            }
        }
        return .success(out)
    }

    public var storeLine: String {
        let protoToken = tcpFlags.map { "\(proto.storeToken):\($0.storeToken)" } ?? proto.storeToken
        let base =
            "\(seq) \(source.storeToken) \(destination.storeToken) \(protoToken) \(sourcePort) \(destinationPort) \(statefulMirror ? "mirrored-stateful" : mirrored ? "mirrored" : "one-way")"
        return description.isEmpty ? base : base + " " + description
    }

    public init(storeLine line: String) throws(StoreError) {
        // Split on the first seven spaces, by bytes; what follows the seventh is the description.
        var fields: [Substring] = []
        fields.reserveCapacity(7)
        let utf8 = line.utf8
        var start = utf8.startIndex, i = start
        while i < utf8.endIndex, fields.count < 7 {
            if utf8[i] == UInt8(ascii: " ") {
                fields.append(line[start..<i])
                start = utf8.index(after: i)
            }
            i = utf8.index(after: i)
        }
        var description = ""
        if fields.count < 7 { fields.append(line[start...]) } else { description = String(line[start...]) }
        guard fields.count >= 7 else { throw StoreError("filter '\(line)' has \(fields.count) of its 7 fields") }
        guard let seq = Int(fields[0]), seq >= 0 else {
            throw StoreError("filter '\(line)': sequence '\(fields[0])' is not a number")
        }
        func port(_ text: Substring, _ what: String) throws(StoreError) -> PortMatch {
            switch PortMatch.parse(String(text)) {
            case .success(let p): return p
            case .failure(let e):
                throw StoreError("filter F\(seq): \(what) \(text) is not 0...65535, a range or a list: \(e.message)")
            }
        }
        var protoField = fields[3]
        var flags: TCPFlagMatch?
        if let colon = protoField.firstIndex(of: ":") {
            guard let f = TCPFlagMatch(storeToken: protoField[protoField.index(after: colon)...]) else {
                throw StoreError("filter F\(seq): '\(protoField)' has invalid TCP flags")
            }
            flags = f
            protoField = protoField[..<colon]
        }
        let mirrored: Bool, stateful: Bool
        switch fields[6] {
        case "mirrored": (mirrored, stateful) = (true, false)
        case "mirrored-stateful": (mirrored, stateful) = (true, true)
        case "one-way": (mirrored, stateful) = (false, false)
        default: throw StoreError("filter F\(seq): '\(fields[6])' is neither mirrored, mirrored-stateful nor one-way")
        }
        self.init(
            seq: seq, source: try AddressSpec(storeToken: fields[1], filter: seq),
            destination: try AddressSpec(storeToken: fields[2], filter: seq),
            proto: try IPProtocolSpec(storeToken: protoField, filter: seq),
            sourcePort: try port(fields[4], "source port"), destinationPort: try port(fields[5], "destination port"),
            tcpFlags: flags, mirrored: mirrored, statefulMirror: stateful, description: description)
        if flags != nil && proto != .tcp {
            throw StoreError("filter F\(seq) tests TCP flags but its protocol is \(proto)")
        }
    }
}

extension IPProtocolSpec {
    /// `any`, `icmp` or the protocol number.
    public var storeToken: String {
        switch self {
        case .any: return "any"
        case .icmp: return "icmp"
        case .number(let n): return String(n)
        }
    }

    init(storeToken text: Substring, filter seq: Int) throws(StoreError) {
        switch text {
        case "any": self = .any
        case "icmp": self = .icmp
        default:
            guard let n = UInt8(text) else { throw StoreError("filter F\(seq): unknown protocol '\(text)'") }
            self = .number(n)
        }
    }
}

extension AddressSpec {
    /// `me`, `any`, `192.0.2.7`, `192.0.2.0/24`, `192.0.2.10-192.0.2.20`, `dns:host.example`,
    /// `dns:host.example/24`, `server:DNS`.
    public var storeToken: String {
        switch self {
        case .me: return "me"
        case .any: return "any"
        case .subnet(let a, let p): return p == a.family.bits ? a.description : "\(a)/\(p)"
        case .range(let a, let b): return "\(a)-\(b)"
        case .dnsName(let n, let p): return p.map { "dns:\(n)/\($0)" } ?? "dns:\(n)"
        case .server(let t): return "server:\(t.rawValue)"
        case .group(let g): return "group:\(g)"
        }
    }

    init(storeToken text: Substring, filter seq: Int) throws(StoreError) {
        func bad(_ why: String) -> StoreError { StoreError("filter F\(seq): address '\(text)' \(why)") }
        switch text {
        case "me": self = .me
        case "any": self = .any
        default:
            if text.hasPrefix("group:") {
                let name = String(text.dropFirst(6))
                guard AddressGroup.validName(name) else { throw bad("names no valid address group") }
                self = .group(name)
            } else if text.hasPrefix("server:") {
                guard let t = ServerType(rawValue: String(text.dropFirst(7))) else { throw bad("names no server type") }
                self = .server(t)
            } else if text.hasPrefix("dns:") {
                let rest = text.dropFirst(4)
                if let slash = rest.firstIndex(of: "/") {
                    guard let p = Int(rest[rest.index(after: slash)...]) else { throw bad("has an invalid prefix") }
                    self = .dnsName(String(rest[..<slash]), prefix: p)
                } else {
                    self = .dnsName(String(rest), prefix: nil)
                }
            } else if let dash = text.utf8.firstIndex(of: UInt8(ascii: "-")) {
                guard let a = IPAddress(text[..<dash]), let b = IPAddress(text[text.index(after: dash)...]),
                    a.family == b.family, a <= b
                else {
                    throw bad("is not a valid range")
                }
                self = .range(a, b)
            } else if let slash = text.utf8.firstIndex(of: UInt8(ascii: "/")) {
                guard let a = IPAddress(text[..<slash]), let p = Int(text[text.index(after: slash)...]),
                    (0...a.family.bits).contains(p)
                else {
                    throw bad("is not an address with a prefix in range")
                }
                self = .subnet(a, prefix: p)
            } else {
                guard let a = IPAddress(text) else { throw bad("is not an address") }
                self = .subnet(a, prefix: a.family.bits)
            }
        }
    }
}
