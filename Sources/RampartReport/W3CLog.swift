import FoundationEssentials
import RampartCompiler
import RampartPolicy

/// The drop records as a W3C extended log, the format of Windows Firewall's `pfirewall.log`, which
/// LogParser-style tools and spreadsheets read unchanged: directives, then one space-separated line
/// per record, `-` for an empty field.
public enum W3CLog {
    public static let fields = ["date", "time", "action", "protocol", "src-ip", "dst-ip", "src-port", "dst-port", "count", "filter", "rule", "policy", "direction"]

    public static func header(software: String) -> String {
        "#Version: 1.0\n#Software: \(software)\n#Time Format: UTC\n#Fields: \(fields.joined(separator: " "))\n"
    }

    /// One line per record of `summary`; the time is the record's first packet. `origins` maps a
    /// filter id to where it comes from (rule and policy).
    public static func lines(_ summary: DropAggregator.Summary, origins: [String: FilterOrigin]) -> String {
        var out = ""
        for r in summary.records {
            let k = r.key
            let stamp = Date(timeIntervalSince1970: r.first).formatted(.iso8601)
            // 2026-12-02T01:23:45Z → date, time
            let date = String(stamp.prefix(10)), time = String(stamp.dropFirst(11).prefix(8))
            let filter: String
            switch k.kind {
            case .filter: filter = k.filter ?? "-"
            case .invalid: filter = "invalid"
            case .boot: filter = "boot-mode"
            }
            let origin = k.filter.flatMap { origins[$0] }
            let port = k.proto == 1 || k.proto == 58 ? "-" : (k.port.map(String.init) ?? "-")
            let values = [date, time, "DROP", NftRenderer.protocolName(k.proto).uppercased(), k.source.description, k.destination.description, "-", port,
                          String(r.count), filter, field(origin?.rule), field(origin?.policy), k.direction]
            out += values.joined(separator: " ") + "\n"
        }
        return out
    }

    /// Spaces would split a field: they become `_`; nothing is `-`.
    static func field(_ value: String?) -> String {
        guard let value, !value.isEmpty else { return "-" }
        return String(value.map { $0 == " " || $0 == "\t" || $0 == "\n" ? "_" : $0 })
    }
}
