import RampartCompiler
import RampartPolicy

/// The drops of one `ipsecloginterval`, aggregated: one record per (direction, what dropped it,
/// protocol, source, destination, destination port — or ICMP type —, interface) with a count and the first and
/// last time, as Windows' IPSec diagnostics summarised them. Pure: the daemon feeds it attributed
/// packets and asks for the interval's summary when the interval ends.
///
/// Bounded: at most `limit` distinct records per interval; drops past that are still counted, per
/// filter, as not itemised. Lost events (NFLOG could not deliver them) are counted apart, so the
/// summary's `total` (itemised + not itemised) plus `lost` is every drop the kernel logged.
/// The source port is not part of the key: a scan from one host to one port is one record, not one
/// per ephemeral port.
public struct DropAggregator: Sendable {
    public struct Key: Hashable, Sendable {
        public var direction: String
        public var kind: LogAttribution.Kind
        /// The filter's id; nil for invalid packets, boot-mode drops and unknown elements.
        public var filter: String?
        public var proto: UInt8
        public var source: IPAddress
        public var destination: IPAddress
        /// The destination port for protocols with ports, the type for ICMP and ICMPv6, else nil.
        public var port: UInt16?
        /// The interface the packet came in on (in) or was to leave by (out).
        public var interface: String = ""
    }

    public struct Record: Equatable, Sendable {
        public var key: Key
        public var count: Int
        /// Seconds since the epoch (the daemon's clock when each packet arrived).
        public var first: Double
        public var last: Double
    }

    public struct Summary: Equatable, Sendable {
        public var start: Double
        public var end: Double
        /// In order of first appearance.
        public var records: [Record]
        /// Drops past `limit` distinct records, per filter (`""` for drops with no filter).
        public var notItemised: [String: Int]
        /// The same drops by "direction kind" (`in filter`, `out boot`, `in invalid`).
        public var notItemisedByKind: [String: Int] = [:]
        public var lost: Int

        public var itemised: Int { records.reduce(0) { $0 + $1.count } }
        /// Every drop delivered in the interval.
        public var total: Int { itemised + notItemised.values.reduce(0, +) }
    }

    public let limit: Int
    private(set) var start: Double
    private var index: [Key: Int] = [:]
    private var records: [Record] = []
    private var notItemised: [String: Int] = [:]
    private var notItemisedByKind: [String: Int] = [:]
    private var lost = 0

    public init(limit: Int = 1000, start: Double) {
        self.limit = max(0, limit)
        self.start = start
    }

    /// One logged drop.
    public mutating func add(_ attribution: LogAttribution, _ packet: Packet, direction: String, at time: Double) {
        let port: UInt16? =
            packet.hasPorts
            ? packet.destinationPort : (packet.proto == 1 || packet.proto == 58) ? UInt16(packet.icmpType) : nil
        let key = Key(
            direction: attribution.direction ?? direction, kind: attribution.kind, filter: attribution.id,
            proto: packet.proto,
            source: packet.source, destination: packet.destination, port: port, interface: packet.interface)
        if let i = index[key] {
            records[i].count += 1
            records[i].last = time
        } else if records.count < limit {
            index[key] = records.count
            records.append(Record(key: key, count: 1, first: time, last: time))
        } else {
            notItemised[attribution.id ?? "", default: 0] += 1
            notItemisedByKind["\(key.direction) \(key.kind.rawValue)", default: 0] += 1
        }
    }

    /// `count` events the kernel could not deliver.
    public mutating func lost(_ count: Int) { lost += count }

    /// The interval's summary; the aggregator starts the next interval at `time`.
    public mutating func finish(at time: Double) -> Summary {
        let summary = current(at: time)
        self = DropAggregator(limit: limit, start: time)
        return summary
    }

    /// The interval so far, leaving it running.
    public func current(at time: Double) -> Summary {
        Summary(
            start: start, end: time, records: records, notItemised: notItemised, notItemisedByKind: notItemisedByKind,
            lost: lost)
    }
}
