import RampartPolicy

/// A logged packet's network and transport headers (what NFLOG hands over) as a `Packet`, so the
/// evaluators can say which filter the kernel's rule matched. Pure, and careful: every offset is
/// checked against the bytes there; a packet too short to carry what it claims gives nil.
extension Packet {
    public init?(headers bytes: ArraySlice<UInt8>, interface: String) {
        let b = Array(bytes)
        guard let first = b.first else { return nil }
        var proto: UInt8
        var transport: Int
        let source: IPAddress, destination: IPAddress
        switch first >> 4 {
        case 4:
            let ihl = Int(first & 0x0f) * 4
            guard ihl >= 20, b.count >= ihl else { return nil }
            proto = b[9]
            source = .v4(Packet.u32(b, 12))
            destination = .v4(Packet.u32(b, 16))
            // A fragment after the first carries no transport header.
            let fragmentOffset = (UInt16(b[6]) << 8 | UInt16(b[7])) & 0x1fff
            transport = fragmentOffset == 0 ? ihl : b.count
        case 6:
            guard b.count >= 40 else { return nil }
            proto = b[6]
            source = .v6(Packet.u128(b, 8))
            destination = .v6(Packet.u128(b, 24))
            transport = 40
            // Hop-by-hop, routing, fragment and destination options headers, as nft's l4proto skips them.
            var hops = 0
            while [0, 43, 44, 60].contains(proto), hops < 8 {
                guard transport + 8 <= b.count else { return nil }
                let next = b[transport]
                if proto == 44 {
                    let offset = (UInt16(b[transport + 2]) << 8 | UInt16(b[transport + 3])) >> 3
                    transport += 8
                    if offset != 0 { transport = b.count }
                } else {
                    transport += (Int(b[transport + 1]) + 1) * 8
                }
                proto = next
                hops += 1
            }
        default:
            return nil
        }
        self.init(source: source, destination: destination, proto: proto, interface: interface)
        if hasPorts, transport + 4 <= b.count {
            sourcePort = UInt16(b[transport]) << 8 | UInt16(b[transport + 1])
            destinationPort = UInt16(b[transport + 2]) << 8 | UInt16(b[transport + 3])
            if proto == 6, transport + 13 < b.count { tcpFlags = b[transport + 13] }
        } else if proto == 1 || proto == 58, transport < b.count {
            icmpType = b[transport]
        }
    }

    static func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
    }

    static func u128(_ b: [UInt8], _ at: Int) -> UInt128 {
        (0..<16).reduce(UInt128(0)) { $0 << 8 | UInt128(b[at + $1]) }
    }
}

/// What a log record is about, read from its NFLOG prefix (`rampart in F12 `, `rampart out
/// input_f3_v4 `, `rampart invalid `, `rampart boot in `) and, for a grouped rule, from the packet:
/// the filter is the element of the rule's set that holds it (the kernel matched that element).
public struct LogAttribution: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// A filter's drop (`id` is `F12`, `F12m`, `D3`).
        case filter
        /// `ct state invalid` (ipsecdiagnostics bit 4).
        case invalid
        /// The boot mode's drop, before the policy is in force.
        case boot
    }

    public var kind: Kind
    /// `in` or `out`; nil for invalid packets (both chains log them).
    public var direction: String?
    /// The filter's id for `.filter`; nil otherwise, and when a grouped rule's set holds no element
    /// for the packet (the ruleset changed since the packet was logged).
    public var id: String?

    public init(kind: Kind, direction: String?, id: String?) {
        self.kind = kind
        self.direction = direction
        self.id = id
    }

    /// nil for a prefix that is not rampart's.
    public init?(prefix: String, packet: Packet?, ruleset: Ruleset) {
        let words = prefix.split(separator: " ")
        guard words.first == "rampart", words.count >= 2 else { return nil }
        switch words[1] {
        case "invalid":
            self.init(kind: .invalid, direction: nil, id: nil)
        case "boot":
            guard words.count == 3, words[2] == "in" || words[2] == "out" else { return nil }
            self.init(kind: .boot, direction: String(words[2]), id: nil)
        case "in", "out":
            guard words.count == 3 else { return nil }
            let name = String(words[2])
            if SetNaming.isFilterSet(name) {
                let set = ruleset.filterSets.first { $0.name == name }
                self.init(kind: .filter, direction: String(words[1]), id: packet.flatMap { set?.elementID($0) })
            } else {
                self.init(kind: .filter, direction: String(words[1]), id: name)
            }
        default:
            return nil
        }
    }
}
