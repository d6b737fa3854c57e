import FoundationEssentials
import RampartCompiler
import RampartPolicy

/// The drop log's entries as rampartd writes them (journal fields, W3C lines) and `rampart logs`
/// reads them back: one record per aggregate of an interval, and the interval's total.
/// docs/logging.md lists every field.
public enum DropLog {
    /// MESSAGE_ID of a drop record (`journalctl MESSAGE_ID=…`).
    public static let recordID = "5fc87e72c7924a2c9bb114fbaef7a8bf"
    /// MESSAGE_ID of an interval's total.
    public static let totalID = "b0652373b651450e94d4462294043fbd"

    public struct Record: Equatable, Sendable, Codable {
        public var type = "record"
        /// Seconds since the epoch, whole seconds (as the journal field and the W3C line carry them).
        public var first: Double
        public var last: Double
        public var direction: String
        /// The filter's id, or `boot-mode`, `invalid`, `-` (a grouped filter no longer in force).
        public var filter: String
        public var rule: String?
        public var policy: String?
        public var filterList: String?
        /// Where the filter comes from: `local/Web Server/Block all/All Traffic/#1`, `dynamic`.
        public var origin: String?
        /// `tcp`, `udp`, `icmp`, `ipv6-icmp`, or the protocol number.
        public var proto: String
        public var source: String
        public var destination: String
        public var port: UInt16?
        public var icmpType: UInt8?
        public var interface: String?
        public var count: Int

        public init(
            first: Double, last: Double, direction: String, filter: String, rule: String? = nil, policy: String? = nil,
            filterList: String? = nil, origin: String? = nil, proto: String, source: String, destination: String,
            port: UInt16? = nil, icmpType: UInt8? = nil, interface: String? = nil, count: Int
        ) {
            self.first = first
            self.last = last
            self.direction = direction
            self.filter = filter
            self.rule = rule
            self.policy = policy
            self.filterList = filterList
            self.origin = origin
            self.proto = proto
            self.source = source
            self.destination = destination
            self.port = port
            self.icmpType = icmpType
            self.interface = interface
            self.count = count
        }
    }

    public struct Total: Equatable, Sendable, Codable {
        public var type = "total"
        public var start: Double
        public var end: Double
        /// Itemised + not itemised: every drop delivered.
        public var logged: Int
        public var itemised: Int
        public var records: Int
        public var notItemised: Int
        /// Drops the kernel logged that never reached the records (socket buffer or queue full).
        public var lost: Int

        public init(start: Double, end: Double, logged: Int, itemised: Int, records: Int, notItemised: Int, lost: Int) {
            self.start = start
            self.end = end
            self.logged = logged
            self.itemised = itemised
            self.records = records
            self.notItemised = notItemised
            self.lost = lost
        }
    }

    public enum Entry: Equatable, Sendable {
        case record(Record)
        case total(Total)

        /// When it happened: a record's last packet, a total's end.
        public var time: Double {
            switch self {
            case .record(let r): return r.last
            case .total(let t): return t.end
            }
        }
    }

    /// An interval's summary as entries: its records, then its total.
    public static func entries(_ summary: DropAggregator.Summary, origins: [String: FilterOrigin]) -> [Entry] {
        var out: [Entry] = summary.records.map { r in
            let k = r.key
            let filter: String
            switch k.kind {
            case .filter: filter = k.filter ?? "-"
            case .invalid: filter = "invalid"
            case .boot: filter = "boot-mode"
            }
            let origin = k.filter.flatMap { origins[$0] }
            let icmp = k.proto == 1 || k.proto == 58
            return .record(
                Record(
                    first: r.first.rounded(.down), last: r.last.rounded(.down), direction: k.direction, filter: filter,
                    rule: origin?.rule, policy: origin?.policy, filterList: origin?.filterList,
                    origin: origin?.description,
                    proto: NftRenderer.protocolName(k.proto), source: k.source.description,
                    destination: k.destination.description,
                    port: icmp ? nil : k.port, icmpType: icmp ? k.port.map { UInt8(truncatingIfNeeded: $0) } : nil,
                    interface: k.interface.isEmpty ? nil : k.interface, count: r.count))
        }
        let notItemised = summary.notItemised.values.reduce(0, +)
        out.append(
            .total(
                Total(
                    start: summary.start.rounded(.down), end: summary.end.rounded(.down), logged: summary.total,
                    itemised: summary.itemised,
                    records: summary.records.count, notItemised: notItemised, lost: summary.lost)))
        return out
    }

    // MARK: Text

    public static func timestamp(_ t: Double) -> String { Date(timeIntervalSince1970: t).formatted(.iso8601) }

    /// The human line: the journal's MESSAGE, stderr's line, `rampart logs --format text`.
    public static func message(_ entry: Entry) -> String {
        switch entry {
        case .record(let r):
            let what: String
            switch r.filter {
            case "boot-mode": what = "boot mode"
            case "invalid": what = "invalid"
            case "-": what = "a grouped filter no longer in force"
            // A name from an old store or a domain policy may hold a line break: one line whatever.
            default: what = r.filter + (r.origin.map { " [\(oneLine($0))]" } ?? "")
            }
            let port = r.icmpType.map { " type \($0)" } ?? r.port.map { " port \($0)" } ?? ""
            let on = r.interface.map { " on \($0)" } ?? ""
            return
                "drop \(r.direction) \(what): \(r.proto) \(r.source) -> \(r.destination)\(port)\(on), \(r.count) packet(s), first \(timestamp(r.first)), last \(timestamp(r.last))"
        case .total(let t):
            return
                "drops from \(timestamp(t.start)) to \(timestamp(t.end)): \(t.logged) logged (\(t.itemised) in \(t.records) record(s), \(t.notItemised) not itemised), \(t.lost) lost"
        }
    }

    /// `text` with every line break (U+2028 and U+2029 too) and control character as `_`.
    static func oneLine(_ text: String) -> String {
        String(
            text.map { c in
                c.isNewline || c.unicodeScalars.contains { $0.properties.generalCategory == .control } ? "_" : c
            })
    }

    // MARK: Journal

    /// The entry's structured journal fields (MESSAGE and PRIORITY are the logger's).
    public static func journalFields(_ entry: Entry) -> [(String, String)] {
        switch entry {
        case .record(let r):
            var f: [(String, String)] = [
                ("MESSAGE_ID", recordID), ("RAMPART_DIRECTION", r.direction), ("RAMPART_FILTER", r.filter)
            ]
            if let v = r.rule { f.append(("RAMPART_RULE", v)) }
            if let v = r.policy { f.append(("RAMPART_POLICY", v)) }
            if let v = r.filterList { f.append(("RAMPART_FILTERLIST", v)) }
            if let v = r.origin { f.append(("RAMPART_ORIGIN", v)) }
            f += [("RAMPART_PROTO", r.proto), ("RAMPART_SRC", r.source), ("RAMPART_DST", r.destination)]
            if let v = r.port { f.append(("RAMPART_DPORT", String(v))) }
            if let v = r.icmpType { f.append(("RAMPART_ICMP_TYPE", String(v))) }
            if let v = r.interface { f.append(("RAMPART_INTERFACE", v)) }
            f += [
                ("RAMPART_COUNT", String(r.count)), ("RAMPART_FIRST", timestamp(r.first)),
                ("RAMPART_LAST", timestamp(r.last))
            ]
            return f
        case .total(let t):
            return [
                ("MESSAGE_ID", totalID), ("RAMPART_START", timestamp(t.start)), ("RAMPART_END", timestamp(t.end)),
                ("RAMPART_LOGGED", String(t.logged)), ("RAMPART_ITEMISED", String(t.itemised)),
                ("RAMPART_RECORDS", String(t.records)),
                ("RAMPART_NOT_ITEMISED", String(t.notItemised)), ("RAMPART_LOST", String(t.lost))
            ]
        }
    }

    /// An entry from a journal entry's fields (`journalctl -o json`); nil when it is not one.
    public static func entry(journal f: [String: String]) -> Entry? {
        func time(_ key: String) -> Double? {
            f[key].flatMap { try? Date($0, strategy: .iso8601) }?.timeIntervalSince1970
        }
        func int(_ key: String) -> Int? { f[key].flatMap { Int($0) } }
        switch f["MESSAGE_ID"] {
        case recordID:
            guard let first = time("RAMPART_FIRST"), let last = time("RAMPART_LAST"),
                let direction = f["RAMPART_DIRECTION"],
                let filter = f["RAMPART_FILTER"], let proto = f["RAMPART_PROTO"], let src = f["RAMPART_SRC"],
                let dst = f["RAMPART_DST"],
                let count = int("RAMPART_COUNT")
            else { return nil }
            return .record(
                Record(
                    first: first, last: last, direction: direction, filter: filter, rule: f["RAMPART_RULE"],
                    policy: f["RAMPART_POLICY"],
                    filterList: f["RAMPART_FILTERLIST"], origin: f["RAMPART_ORIGIN"], proto: proto, source: src,
                    destination: dst,
                    port: f["RAMPART_DPORT"].flatMap { UInt16($0) },
                    icmpType: f["RAMPART_ICMP_TYPE"].flatMap { UInt8($0) },
                    interface: f["RAMPART_INTERFACE"], count: count))
        case totalID:
            guard let start = time("RAMPART_START"), let end = time("RAMPART_END"), let logged = int("RAMPART_LOGGED"),
                let itemised = int("RAMPART_ITEMISED"), let records = int("RAMPART_RECORDS"),
                let notItemised = int("RAMPART_NOT_ITEMISED"),
                let lost = int("RAMPART_LOST")
            else { return nil }
            return .total(
                Total(
                    start: start, end: end, logged: logged, itemised: itemised, records: records,
                    notItemised: notItemised, lost: lost))
        default:
            return nil
        }
    }

    /// One line of `journalctl -o json`: string fields only (a binary or repeated field is skipped).
    public static func journalLine(_ line: Substring) -> [String: String]? {
        struct Fields: Decodable {
            var values: [String: String] = [:]
            struct Key: CodingKey {
                var stringValue: String
                var intValue: Int? { nil }
                init?(stringValue: String) { self.stringValue = stringValue }
                init?(intValue: Int) { nil }
            }
            init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: Key.self)
                for k in c.allKeys {
                    if let v = try? c.decode(String.self, forKey: k) { values[k.stringValue] = v }
                }
            }
        }
        return (try? JSONDecoder().decode(Fields.self, from: Data(line.utf8)))?.values
    }
}
