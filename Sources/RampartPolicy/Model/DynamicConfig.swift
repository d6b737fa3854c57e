/// `netsh ipsec dynamic set config` settings. Persistent; they shape the boot ruleset and logging.
public struct DynamicConfig: Hashable, Sendable, Codable {
    public enum BootMode: String, Codable, Sendable, CaseIterable {
        case permit, block, stateful
    }

    public enum Direction: String, Codable, Sendable {
        case inbound, outbound
    }

    /// `protocol:srcport:dstport:direction`, honoured while the boot ruleset is in force.
    public struct BootExemption: Hashable, Sendable, Codable, CustomStringConvertible {
        public var proto: IPProtocolSpec
        public var sourcePort: UInt16
        public var destinationPort: UInt16
        public var direction: Direction

        public init(proto: IPProtocolSpec, sourcePort: UInt16, destinationPort: UInt16, direction: Direction) {
            self.proto = proto
            self.sourcePort = sourcePort
            self.destinationPort = destinationPort
            self.direction = direction
        }

        public var description: String {
            "\(proto.description.lowercased()):\(sourcePort):\(destinationPort):\(direction.rawValue)"
        }
    }

    /// Bitmask: 1 = log inbound drops, 2 = log outbound drops, 4 = log invalid packets.
    public var ipsecDiagnostics: Int = 0
    public var ikeLogging: Int = 0
    public var strongCRLCheck: Int = 0
    /// Seconds between aggregated drop records, 60–86400.
    public var ipsecLogInterval: Int = 3600
    /// 0–3, see docs/netsh-compatibility.md.
    public var ipsecExempt: Int = 3
    public var bootMode: BootMode = .stateful
    public var bootExemptions: [BootExemption] = []

    public init() {}

    public var logsInboundDrops: Bool { ipsecDiagnostics & 1 != 0 }
    public var logsOutboundDrops: Bool { ipsecDiagnostics & 2 != 0 }
    public var logsInvalid: Bool { ipsecDiagnostics & 4 != 0 }
}
