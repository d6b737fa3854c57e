import FoundationEssentials
import RampartCompiler
import RampartPolicy

/// The drop records as a W3C extended log, the format of Windows Firewall's `pfirewall.log`, which
/// LogParser-style tools and spreadsheets read unchanged: directives, then one space-separated line
/// per record, `-` for an empty field. An interval's total is a `#Remark:` directive, which those
/// tools skip and `rampart logs` reads back.
public enum W3CLog {
    public static let fields = [
        "date", "time", "action", "protocol", "src-ip", "dst-ip", "src-port", "dst-port", "count", "filter", "rule",
        "policy", "direction"
    ]

    public static func header(software: String) -> String {
        "#Version: 1.0\n#Software: \(software)\n#Time Format: UTC\n#Fields: \(fields.joined(separator: " "))\n"
    }

    /// One line per record; the time is the record's first packet.
    public static func lines(_ entries: [DropLog.Entry]) -> String {
        var out = ""
        for entry in entries {
            switch entry {
            case .record(let r):
                // 2026-12-02T01:23:45Z → date, time
                let stamp = DropLog.timestamp(r.first)
                let values = [
                    String(stamp.prefix(10)), String(stamp.dropFirst(11).prefix(8)), "DROP", r.proto.uppercased(),
                    r.source, r.destination,
                    "-", r.port.map(String.init) ?? "-", String(r.count), field(r.filter), field(r.rule),
                    field(r.policy), r.direction
                ]
                out += values.joined(separator: " ") + "\n"
            case .total(let t):
                out +=
                    "#Remark: total start=\(DropLog.timestamp(t.start)) end=\(DropLog.timestamp(t.end)) logged=\(t.logged) itemised=\(t.itemised)"
                    + " records=\(t.records) not-itemised=\(t.notItemised) lost=\(t.lost)\n"
            }
        }
        return out
    }

    /// The entries of a W3C log this module wrote (any `#Fields:` order); other lines are skipped.
    /// A record read back has the W3C fields only: its last time is its first, and spaces in rule
    /// and policy names are `_`.
    public static func parse(_ text: String) -> [DropLog.Entry] {
        var names = fields
        var out: [DropLog.Entry] = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("#Fields: ") {
                names = line.dropFirst(9).split(separator: " ").map(String.init)
            } else if line.hasPrefix("#Remark: total ") {
                var v: [String: String] = [:]
                for pair in line.dropFirst(15).split(separator: " ") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    if kv.count == 2 { v[String(kv[0])] = String(kv[1]) }
                }
                func time(_ k: String) -> Double? {
                    v[k].flatMap { try? Date($0, strategy: .iso8601) }?.timeIntervalSince1970
                }
                func int(_ k: String) -> Int? { v[k].flatMap { Int($0) } }
                guard let start = time("start"), let end = time("end"), let logged = int("logged"),
                    let itemised = int("itemised"),
                    let records = int("records"), let notItemised = int("not-itemised"), let lost = int("lost")
                else { continue }
                out.append(
                    .total(
                        DropLog.Total(
                            start: start, end: end, logged: logged, itemised: itemised, records: records,
                            notItemised: notItemised, lost: lost)))
            } else if !line.hasPrefix("#") {
                let values = line.split(separator: " ", omittingEmptySubsequences: false)
                guard values.count == names.count else { continue }
                var v: [String: String] = [:]
                for (name, value) in zip(names, values) where value != "-" { v[name] = String(value) }
                guard let date = v["date"], let clock = v["time"],
                    let at = try? Date("\(date)T\(clock)Z", strategy: .iso8601),
                    let src = v["src-ip"], let dst = v["dst-ip"], let count = v["count"].flatMap({ Int($0) }),
                    let direction = v["direction"]
                else { continue }
                let t = at.timeIntervalSince1970
                out.append(
                    .record(
                        DropLog.Record(
                            first: t, last: t, direction: direction, filter: v["filter"] ?? "-", rule: v["rule"],
                            policy: v["policy"],
                            proto: (v["protocol"] ?? "-").lowercased(), source: src, destination: dst,
                            port: v["dst-port"].flatMap { UInt16($0) }, count: count)))
            }
        }
        return out
    }

    /// Blanks would split a field and line breaks (any, U+2028 too) a record: they become `_`;
    /// nothing is `-`.
    static func field(_ value: String?) -> String {
        guard let value, !value.isEmpty else { return "-" }
        return String(
            value.map { c in
                c.isWhitespace || c.isNewline || c.unicodeScalars.contains { $0.properties.generalCategory == .control }
                    ? "_" : c
            })
    }
}
