import FoundationEssentials
import RampartPolicy

/// What `rampart logs` selects and how it prints it. Pure: the CLI reads the journal or a file
/// and hands the entries here.
public struct DropLogQuery: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case text, json, csv, w3c
    }

    /// A record is shown when its packets overlap [since, until]; a total when its interval does.
    public var since: Double?
    public var until: Double?
    /// Records of this filter only (`F12`, `boot-mode`, `invalid`); totals are left out.
    public var filter: String?
    /// Records from or to this address, or an address in this prefix, only; totals are left out.
    public var address: (IPAddress, Int)?

    public init(since: Double? = nil, until: Double? = nil, filter: String? = nil, address: (IPAddress, Int)? = nil) {
        self.since = since
        self.until = until
        self.filter = filter
        self.address = address
    }

    public func selects(_ entry: DropLog.Entry) -> Bool {
        switch entry {
        case .record(let r):
            if let since, r.last < since { return false }
            if let until, r.first > until { return false }
            if let filter, r.filter != filter { return false }
            if let (prefix, length) = address {
                let hit = [r.source, r.destination].contains { text in
                    IPAddress(text).map {
                        $0.family == prefix.family && $0.masked(prefix: length) == prefix.masked(prefix: length)
                    } ?? false
                }
                if !hit { return false }
            }
            return true
        case .total(let t):
            if filter != nil || address != nil { return false }
            if let since, t.end < since { return false }
            if let until, t.start > until { return false }
            return true
        }
    }

    /// `A` or `A/LENGTH`.
    public static func prefix(_ text: String) -> (IPAddress, Int)? {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let a = IPAddress(String(parts[0])) else { return nil }
        let full = a.family == .ipv4 ? 32 : 128
        guard parts.count == 2 else { return (a, full) }
        guard let n = Int(parts[1]), (0...full).contains(n) else { return nil }
        return (a, n)
    }

    /// `2026-12-02T01:23:45Z` (or with an offset, `+01:00`), `2026-12-02 01:23[:45]` and
    /// `2026-12-02` (UTC), `@EPOCH` (seconds), `now`, `today` and `yesterday` (00:00 UTC), or
    /// relative to now: `-30s`, `-10m`, `-2h`, `-1d`.
    public static func time(_ text: String, now: Double) -> Double? {
        let t = String(text.trimming())
        let midnight = (now / 86_400).rounded(.down) * 86_400
        switch t.lowercased() {
        case "now": return now
        case "today": return midnight
        case "yesterday": return midnight - 86_400
        default: break
        }
        if t.hasPrefix("@") { return Double(t.dropFirst()).flatMap { $0.isFinite ? $0 : nil } }
        if t.hasPrefix("-"), let unit = t.last, let n = Double(t.dropFirst().dropLast()) {
            let scale: Double? = ["s": 1, "m": 60, "h": 3600, "d": 86400][unit]
            return scale.map { now - n * $0 }
        }
        var iso = String(t.map { $0 == " " ? "T" : $0 })
        if iso.count == 10 { iso += "T00:00:00" }
        if iso.count == 16 { iso += ":00" }
        if !iso.hasSuffix("Z") && iso.wholeMatch(of: /.*T.*[+-]\d\d:?\d\d/) == nil { iso += "Z" }
        return (try? Date(iso, strategy: .iso8601))?.timeIntervalSince1970
    }

    // MARK: Formats

    public static let csvFields = [
        "type", "first", "last", "direction", "filter", "rule", "policy", "filterlist", "origin", "protocol",
        "src-ip", "dst-ip", "dst-port", "icmp-type", "interface", "count"
    ]

    /// The head of the output (the CSV header, the W3C directives); nothing for text and JSON.
    public static func header(_ format: Format) -> String {
        switch format {
        case .text, .json: return ""
        case .csv: return csvFields.joined(separator: ",") + "\n"
        case .w3c: return W3CLog.header(software: "rampart logs")
        }
    }

    /// One entry in `format`, with its newline. CSV carries records only (a total has other
    /// columns); W3C gives a total as its `#Remark:` directive.
    public static func render(_ entry: DropLog.Entry, _ format: Format) -> String {
        switch format {
        case .text:
            return DropLog.message(entry) + "\n"
        case .json:
            return json(entry) + "\n"
        case .csv:
            guard case .record(let r) = entry else { return "" }
            let values: [String?] = [
                "record", DropLog.timestamp(r.first), DropLog.timestamp(r.last), r.direction, r.filter, r.rule,
                r.policy, r.filterList, r.origin,
                r.proto, r.source, r.destination, r.port.map(String.init), r.icmpType.map(String.init), r.interface,
                String(r.count)
            ]
            return values.map { csvField($0 ?? "") }.joined(separator: ",") + "\n"
        case .w3c:
            return W3CLog.lines([entry])
        }
    }

    /// RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.
    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.flatMap { $0 == "\"" ? "\"\"" : String($0) } + "\""
    }

    /// JSON Lines: one object per entry, keys sorted, times in ISO 8601 UTC.
    static func json(_ entry: DropLog.Entry) -> String {
        struct RecordOut: Encodable {
            var type = "record"
            var first, last, direction, filter: String
            var rule, policy, filterList, origin: String?
            var proto, source, destination: String
            var port: UInt16?
            var icmpType: UInt8?
            var interface: String?
            var count: Int
        }
        struct TotalOut: Encodable {
            var type = "total"
            var start, end: String
            var logged, itemised, records, notItemised, lost: Int
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data: Data?
        switch entry {
        case .record(let r):
            data = try? encoder.encode(
                RecordOut(
                    first: DropLog.timestamp(r.first), last: DropLog.timestamp(r.last), direction: r.direction,
                    filter: r.filter,
                    rule: r.rule, policy: r.policy, filterList: r.filterList, origin: r.origin, proto: r.proto,
                    source: r.source, destination: r.destination, port: r.port, icmpType: r.icmpType,
                    interface: r.interface, count: r.count))
        case .total(let t):
            data = try? encoder.encode(
                TotalOut(
                    start: DropLog.timestamp(t.start), end: DropLog.timestamp(t.end), logged: t.logged,
                    itemised: t.itemised,
                    records: t.records, notItemised: t.notItemised, lost: t.lost))
        }
        return data.map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// The entries of a file `rampart logs --file` reads: `journalctl -o json` lines, or a W3C log.
    public static func entries(file text: String) -> [DropLog.Entry] {
        if text.first == "{" {
            return text.split(separator: "\n").compactMap { DropLog.journalLine($0).flatMap(DropLog.entry(journal:)) }
        }
        return W3CLog.parse(text)
    }
}
