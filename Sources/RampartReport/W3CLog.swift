import FoundationEssentials
import RampartCompiler
import RampartPolicy

/// The drop records as a W3C extended log, the format of Windows Firewall's `pfirewall.log`:
/// directives, then one space-separated line per record, `-` for an empty field. The first eight
/// fields are pfirewall.log's, in its order; the others follow, so readers that take the fields
/// from `#Fields:` (Log Parser's W3C format, Python's csv with that header) read them by name and
/// readers that split by position see pfirewall.log's eight. Names are percent-encoded where they
/// hold a blank, a control character, `%` or `"` (`Web%20Server`), so every field reads back
/// exactly. An interval's total is a `#Remark:` directive, which those tools skip and `rampart
/// logs` reads back.
public enum W3CLog {
    public static let fields = [
        "date", "time", "action", "protocol", "src-ip", "dst-ip", "src-port", "dst-port", "count", "filter", "rule",
        "policy", "direction", "last-date", "last-time", "icmptype", "interface", "filterlist", "origin"
    ]

    public static func header(software: String) -> String {
        "#Version: 1.0\n#Software: \(software)\n#Time Format: UTC\n#Fields: \(fields.joined(separator: " "))\n"
    }

    /// One line per record; `date`/`time` is its first packet, `last-date`/`last-time` its last.
    public static func lines(_ entries: [DropLog.Entry]) -> String {
        var out = ""
        for entry in entries {
            switch entry {
            case .record(let r):
                // 2026-12-02T01:23:45Z → date, time
                let first = DropLog.timestamp(r.first), last = DropLog.timestamp(r.last)
                let port: String = r.port.map { String($0) } ?? "-"
                let icmp: String = r.icmpType.map { String($0) } ?? "-"
                let pfirewall: [String] = [
                    String(first.prefix(10)), String(first.dropFirst(11).prefix(8)), "DROP", r.proto.uppercased(),
                    r.source, r.destination, "-", port
                ]
                let names: [String] = [String(r.count), field(r.filter), field(r.rule), field(r.policy), r.direction]
                let trailing: [String] = [
                    String(last.prefix(10)), String(last.dropFirst(11).prefix(8)), icmp, field(r.interface),
                    field(r.filterList), field(r.origin)
                ]
                let values = pfirewall + names + trailing
                out += values.joined(separator: " ") + "\n"
            case .total(let t):
                out +=
                    "#Remark: total start=\(DropLog.timestamp(t.start)) end=\(DropLog.timestamp(t.end)) logged=\(t.logged) itemised=\(t.itemised)"
                    + " records=\(t.records) not-itemised=\(t.notItemised) lost=\(t.lost)\n"
            }
        }
        return out
    }

    /// The entries of a W3C log this module wrote (any `#Fields:` order, the 13 fields of files
    /// before the trailing ones too: then a record's last time is its first, and names hold `_`
    /// where they had blanks); other lines are skipped.
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
                for (name, value) in zip(names, values) where value != "-" { v[name] = decoded(value) }
                guard let date = v["date"], let clock = v["time"],
                    let at = try? Date("\(date)T\(clock)Z", strategy: .iso8601),
                    let src = v["src-ip"], let dst = v["dst-ip"], let count = v["count"].flatMap({ Int($0) }),
                    let direction = v["direction"]
                else { continue }
                let first = at.timeIntervalSince1970
                let last = v["last-date"].flatMap { date in
                    v["last-time"].flatMap { try? Date("\(date)T\($0)Z", strategy: .iso8601) }
                }
                out.append(
                    .record(
                        DropLog.Record(
                            first: first, last: last?.timeIntervalSince1970 ?? first, direction: direction,
                            filter: v["filter"] ?? "-", rule: v["rule"], policy: v["policy"],
                            filterList: v["filterlist"], origin: v["origin"],
                            proto: (v["protocol"] ?? "-").lowercased(), source: src, destination: dst,
                            port: v["dst-port"].flatMap { UInt16($0) }, icmpType: v["icmptype"].flatMap { UInt8($0) },
                            interface: v["interface"], count: count)))
            }
        }
        return out
    }

    /// Blanks would split a field, line breaks (any, U+2028 too) a record and a leading `"` starts a
    /// quoted field for some readers: they are percent-encoded as UTF-8 bytes, `%` too, and a name
    /// that is `-` is `%2D`; nothing is `-`.
    static func field(_ value: String?) -> String {
        guard let value, !value.isEmpty else { return "-" }
        if value == "-" { return "%2D" }
        var out = ""
        for c in value.unicodeScalars {
            let plain =
                !(c.properties.isWhitespace || c.properties.generalCategory == .control
                || c.properties.generalCategory == .lineSeparator
                || c.properties.generalCategory == .paragraphSeparator || c == "%" || c == "\"")
            if plain {
                out.unicodeScalars.append(c)
            } else {
                for byte in String(c).utf8 { out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(2) }
            }
        }
        return out
    }

    /// `field` undone: `%XX` sequences as UTF-8 bytes (an invalid sequence stays as written).
    static func decoded(_ value: Substring) -> String {
        guard value.contains("%") else { return String(value) }
        var bytes: [UInt8] = []
        var i = value.utf8.startIndex
        let utf8 = value.utf8
        while i < utf8.endIndex {
            let next = utf8.index(after: i)
            if utf8[i] == UInt8(ascii: "%"), utf8.distance(from: next, to: utf8.endIndex) >= 2,
                let byte = UInt8(String(decoding: utf8[next..<utf8.index(next, offsetBy: 2)], as: UTF8.self), radix: 16)
            {
                bytes.append(byte)
                i = utf8.index(next, offsetBy: 2)
            } else {
                bytes.append(utf8[i])
                i = next
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
