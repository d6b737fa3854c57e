/// The ports a filter matches on one side: any port (netsh's `0`), one port, or — a rampart
/// extension — ranges and lists (`1024-65535`, `80,443,8080`, `137-139,445`). Kept sorted with
/// overlapping and adjacent items merged, so equal port sets compare equal however they were written.
public struct PortMatch: Hashable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    /// Empty means any port.
    public private(set) var ranges: [ClosedRange<UInt16>]

    /// At most this many items in one list: a list compiles to one rule per item (and per item
    /// of the other side's list), which must stay small.
    public static let maximumItems = 32

    public static let any = PortMatch(ranges: [])

    public init(ranges: [ClosedRange<UInt16>]) {
        self.ranges = PortMatch.normalize(ranges)
    }

    /// `0` is any port, as in netsh.
    public init(_ port: UInt16) {
        ranges = port == 0 ? [] : [port...port]
    }

    public init(integerLiteral value: UInt16) { self.init(value) }

    public var isAny: Bool { ranges.isEmpty }

    /// The one port of a classic netsh filter; nil for any port, a range or a list.
    public var single: UInt16? {
        guard ranges.count == 1, ranges[0].lowerBound == ranges[0].upperBound else { return nil }
        return ranges[0].lowerBound
    }

    /// A range or a list: not expressible in netsh's grammar.
    public var isExtension: Bool { !isAny && single == nil }

    /// How many ports match (65,536 for any): the narrower, the more specific (docs/extensions.md, "Ordering").
    public var count: Int {
        isAny ? 65536 : ranges.reduce(0) { $0 + Int($1.upperBound) - Int($1.lowerBound) + 1 }
    }

    public func contains(_ port: UInt16) -> Bool {
        isAny || ranges.contains { $0.contains(port) }
    }

    /// `0`, `22`, `1024-65535`, `80,443,8080`: the netsh argument form, also the store token.
    public var description: String {
        if isAny { return "0" }
        return ranges.map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
            .joined(separator: ",")
    }

    /// Parses `0`, `N`, `A-B` and comma-separated lists of `N` and `A-B` (ports 1…65535 in lists
    /// and ranges; `0` only alone, meaning any).
    public static func parse(_ text: String) -> Result<PortMatch, ValueError> {
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        if items.count == 1, !text.contains("-") {
            guard let n = UInt16(text) else {
                return .failure(ValueError("'\(text)' is not a port number from 0 (any) to 65535"))
            }
            return .success(PortMatch(n))
        }
        guard items.count <= maximumItems else {
            return .failure(
                ValueError("'\(text)' lists \(items.count) ports or ranges; at most \(maximumItems) are allowed"))
        }
        var ranges: [ClosedRange<UInt16>] = []
        for item in items {
            func number(_ s: Substring) -> UInt16? {
                guard !s.isEmpty, s.allSatisfy(\.isASCII), let n = Int(s), (1...65535).contains(n) else { return nil }
                return UInt16(n)
            }
            let parts = item.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            guard let low = number(parts[0]) else {
                return .failure(
                    ValueError("'\(item)' in '\(text)' is not a port from 1 to 65535 (0, any port, stands alone)"))
            }
            var high = low
            if parts.count == 2 {
                guard let h = number(parts[1]) else {
                    return .failure(ValueError("'\(item)' in '\(text)' is not a range of ports from 1 to 65535"))
                }
                guard low <= h else { return .failure(ValueError("the range '\(item)' ends before it starts")) }
                high = h
            }
            ranges.append(low...high)
        }
        return .success(PortMatch(ranges: ranges))
    }

    static func normalize(_ ranges: [ClosedRange<UInt16>]) -> [ClosedRange<UInt16>] {
        let sorted = ranges.sorted { $0.lowerBound < $1.lowerBound }
        var out: [ClosedRange<UInt16>] = []
        for r in sorted {
            if let last = out.last, Int(r.lowerBound) <= Int(last.upperBound) + 1 {
                out[out.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                out.append(r)
            }
        }
        return out
    }
}

/// Store format version 1 wrote ports as numbers; a range or list is written as its text.
extension PortMatch: Codable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(UInt16.self) {
            self.init(n)
            return
        }
        let text = try c.decode(String.self)
        switch PortMatch.parse(text) {
        case .success(let p): self = p
        case .failure(let e): throw DecodingError.dataCorruptedError(in: c, debugDescription: e.message)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        if isAny {
            try c.encode(0 as UInt16)
        } else if let p = single {
            try c.encode(p)
        } else {
            try c.encode(description)
        }
    }
}

/// A test of a TCP segment's flags (a rampart extension): `flags & mask == value`, or `!=` when
/// negated. `tcpflags=syn` is `tcp flags & (fin|syn|rst|ack) == syn` — a connection attempt and
/// nothing else; `tcpflags=!syn` everything but; `tcpflags=syn+ack` the answer to one;
/// `tcpflags=syn/syn` any segment with SYN set (the mask after `/`).
public struct TCPFlagMatch: Hashable, Sendable, Codable, CustomStringConvertible {
    public var mask: UInt8
    public var value: UInt8
    public var negated: Bool

    public init(mask: UInt8, value: UInt8, negated: Bool = false) {
        self.mask = mask
        self.value = value & mask
        self.negated = negated
    }

    public static let names: [(String, UInt8)] = [
        ("fin", 0x01), ("syn", 0x02), ("rst", 0x04), ("psh", 0x08), ("ack", 0x10), ("urg", 0x20), ("ecn", 0x40),
        ("cwr", 0x80)
    ]

    /// fin|syn|rst|ack: the flags that say what a segment is in a connection's life.
    public static let defaultMask: UInt8 = 0x17

    public func matches(_ flags: UInt8) -> Bool { (flags & mask == value) != negated }

    static func text(_ bits: UInt8) -> String {
        let named = names.filter { bits & $0.1 != 0 }.map(\.0)
        return named.isEmpty ? "none" : named.joined(separator: "+")
    }

    /// The netsh-style argument: `syn`, `!syn`, `syn+ack`, `syn/syn`.
    public var description: String {
        (negated ? "!" : "") + TCPFlagMatch.text(value)
            + (mask == TCPFlagMatch.defaultMask ? "" : "/" + TCPFlagMatch.text(mask))
    }

    /// nft's form: `tcp flags & (fin|syn|rst|ack) == syn`.
    public var nftText: String {
        func set(_ bits: UInt8) -> String {
            let named = TCPFlagMatch.names.filter { bits & $0.1 != 0 }.map(\.0)
            return named.isEmpty ? "0x0" : named.joined(separator: "|")
        }
        let m = set(mask)
        return "tcp flags & \(m.contains("|") ? "(\(m))" : m) \(negated ? "!=" : "==") \(set(value))"
    }

    public static func parse(_ text: String) -> Result<TCPFlagMatch, ValueError> {
        var rest = Substring(text.lowercased())
        let negated = rest.hasPrefix("!")
        if negated { rest = rest.dropFirst() }
        func bits(_ s: Substring) -> Result<UInt8, ValueError> {
            if s == "none" { return .success(0) }
            var b: UInt8 = 0
            for name in s.split(separator: "+", omittingEmptySubsequences: false) {
                guard let bit = names.first(where: { $0.0 == name })?.1 else {
                    return .failure(
                        ValueError(
                            "'\(name)' in tcpflags '\(text)' is not a TCP flag (fin, syn, rst, psh, ack, urg, ecn, cwr, none)"
                        ))
                }
                b |= bit
            }
            return .success(b)
        }
        let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let value: UInt8, mask: UInt8
        switch bits(parts[0]) {
        case .success(let v): value = v
        case .failure(let e): return .failure(e)
        }
        if parts.count == 2 {
            switch bits(parts[1]) {
            case .success(let m): mask = m
            case .failure(let e): return .failure(e)
            }
            guard mask != 0 else {
                return .failure(ValueError("tcpflags '\(text)' has an empty mask: it would test nothing"))
            }
            guard value & ~mask == 0 else {
                return .failure(ValueError("tcpflags '\(text)' sets flags outside its mask"))
            }
        } else {
            mask = defaultMask | value
        }
        return .success(TCPFlagMatch(mask: mask, value: value, negated: negated))
    }

    /// The store's form: `02/17` or `!02/17` (hex value/mask).
    public var storeToken: String {
        func hex(_ b: UInt8) -> String { (b < 16 ? "0" : "") + String(b, radix: 16) }
        return (negated ? "!" : "") + hex(value) + "/" + hex(mask)
    }

    init?(storeToken text: Substring) {
        var rest = text
        let negated = rest.hasPrefix("!")
        if negated { rest = rest.dropFirst() }
        let parts = rest.split(separator: "/")
        guard parts.count == 2, let v = UInt8(parts[0], radix: 16), let m = UInt8(parts[1], radix: 16), m != 0,
            v & ~m == 0
        else { return nil }
        self.init(mask: m, value: v, negated: negated)
    }
}
