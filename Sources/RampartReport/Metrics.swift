import FoundationEssentials
import RampartCompiler
import RampartPolicy

/// What rampartd counts, as Prometheus text (the exposition format 0.0.4 that node_exporter's
/// textfile collector and Prometheus read) or OpenMetrics 1.0 text. Pure: the daemon fills the
/// snapshot in one step on its engine. docs/metrics.md lists every metric.
public struct MetricsSnapshot: Sendable {
    public struct FilterCount: Sendable, Equatable {
        public var filter: String
        public var chain: String
        public var policy: String?
        public var rule: String?
        public var packets: UInt64
        public var bytes: UInt64

        public init(filter: String, chain: String, policy: String?, rule: String?, packets: UInt64, bytes: UInt64) {
            self.filter = filter
            self.chain = chain
            self.policy = policy
            self.rule = rule
            self.packets = packets
            self.bytes = bytes
        }
    }

    /// Per-filter series up to this many filters; past it, per rule (a label per filter would
    /// make a 100,000-filter policy 200,000 series).
    public static let filterSeriesLimit = 1000

    public var healthy = true
    public var problems = 0
    /// `policy` or `boot`, or `nothing`.
    public var enforcing = "nothing"
    public var bootMode = ""
    public var startedAt: Double = 0
    public var rules = 0
    public var filters: [FilterCount] = []
    /// Drops logged since rampartd started, by direction and kind (`filter`, `boot`, `invalid`):
    /// the finished intervals and the one in progress.
    public var dropsLogged: [String: Int] = [:]
    public var itemised = 0
    public var notItemised = 0
    public var lost = 0
    /// Elements of the dynamic address sets (server types, host names), and of all filter sets.
    public var setElements: [String: Int] = [:]
    public var filterSetElements = 0
    public var applies = 0
    public var applyFailures = 0
    public var applySeconds: Double = 0
    public var lastApplyTimestamp: Double?
    public var restores = 0

    public init() {}

    public enum Format: Sendable {
        case prometheus, openMetrics
    }

    /// The Prometheus (or OpenMetrics) text being written: families and their samples.
    struct Writer {
        let format: Format
        var out = ""

        mutating func family(_ name: String, _ type: String, _ help: String, unit: String? = nil) {
            // OpenMetrics names a counter family without its _total suffix.
            let familyName = format == .openMetrics && type == "counter" ? String(name.dropLast(6)) : name
            out += "# HELP \(familyName) \(help)\n# TYPE \(familyName) \(type)\n"
            if format == .openMetrics, let unit { out += "# UNIT \(familyName) \(unit)\n" }
        }

        mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: String) {
            let rendered =
                labels.isEmpty
                ? "" : "{" + labels.map { "\($0.0)=\"\(MetricsSnapshot.escape($0.1))\"" }.joined(separator: ",") + "}"
            out += "\(name)\(rendered) \(value)\n"
        }

        static func number(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v) }
    }

    public func render(_ format: Format) -> String {
        var w = Writer(format: format)
        writeState(&w)
        writeFilterCounters(&w)
        writeDrops(&w)
        writeApplies(&w)
        if format == .openMetrics { w.out += "# EOF\n" }
        return w.out
    }

    func writeState(_ w: inout Writer) {
        w.family("rampart_healthy", "gauge", "1 when rampartd enforces its policy with no problem, else 0.")
        w.sample("rampart_healthy", [], healthy ? "1" : "0")
        w.family("rampart_problems", "gauge", "Problems rampartd reports in its status.")
        w.sample("rampart_problems", [], String(problems))
        w.family("rampart_enforcing", "gauge", "What is in force: the policy, the boot mode, or nothing.")
        for mode in ["policy", "boot", "nothing"] {
            w.sample("rampart_enforcing", [("mode", mode)], enforcing == mode ? "1" : "0")
        }
        w.family("rampart_boot_mode_info", "gauge", "The configured boot mode.")
        w.sample("rampart_boot_mode_info", [("mode", bootMode)], "1")
        w.family(
            "rampart_start_time_seconds", "gauge", "When rampartd started, seconds since the epoch.", unit: "seconds")
        w.sample("rampart_start_time_seconds", [], Writer.number(startedAt.rounded()))
        w.family("rampart_rules", "gauge", "Rules in table inet rampart.")
        w.sample("rampart_rules", [], String(rules))
    }

    /// Per filter, or per policy and rule past `filterSeriesLimit` filters.
    func writeFilterCounters(_ w: inout Writer) {
        let perFilter = Set(filters.map(\.filter)).count <= Self.filterSeriesLimit
        var grouped: [String: (labels: [(String, String)], packets: UInt64, bytes: UInt64)] = [:]
        var order: [String] = []
        for f in filters {
            let labels: [(String, String)] =
                perFilter
                ? [("filter", f.filter), ("chain", f.chain)]
                : [("policy", f.policy ?? ""), ("rule", f.rule ?? ""), ("chain", f.chain)]
            let key = labels.map(\.1).joined(separator: "\u{0}")
            if grouped[key] == nil { order.append(key) }
            grouped[key, default: (labels, 0, 0)].packets += f.packets
            grouped[key, default: (labels, 0, 0)].bytes += f.bytes
        }
        let unit = perFilter ? "filter" : "rule"
        w.family(
            "rampart_\(unit)_packets_total", "counter",
            "Packets the \(unit)'s rules matched (reset when the table is replaced).")
        for k in order { w.sample("rampart_\(unit)_packets_total", grouped[k]!.labels, String(grouped[k]!.packets)) }
        w.family(
            "rampart_\(unit)_bytes_total", "counter",
            "Bytes the \(unit)'s rules matched (reset when the table is replaced).", unit: "bytes")
        for k in order { w.sample("rampart_\(unit)_bytes_total", grouped[k]!.labels, String(grouped[k]!.bytes)) }
    }

    func writeDrops(_ w: inout Writer) {
        w.family(
            "rampart_drops_logged_total", "counter",
            "Dropped packets logged (ipsecdiagnostics), by direction and what dropped them.")
        for direction in ["in", "out"] {
            for kind in ["filter", "boot", "invalid"] {
                w.sample(
                    "rampart_drops_logged_total", [("direction", direction), ("kind", kind)],
                    String(dropsLogged["\(direction) \(kind)"] ?? 0))
            }
        }
        w.family(
            "rampart_log_events_total", "counter",
            "Logged drops by outcome: in a record, counted only (past the record limit), or lost before rampartd read them."
        )
        w.sample("rampart_log_events_total", [("outcome", "itemised")], String(itemised))
        w.sample("rampart_log_events_total", [("outcome", "not_itemised")], String(notItemised))
        w.sample("rampart_log_events_total", [("outcome", "lost")], String(lost))
        w.family("rampart_set_elements", "gauge", "Addresses in each dynamic set (server types, host names).")
        for (name, count) in setElements.sorted(by: { $0.key < $1.key }) {
            w.sample("rampart_set_elements", [("set", name)], String(count))
        }
        w.family("rampart_filter_set_elements", "gauge", "Elements of the sets grouped filters compile to.")
        w.sample("rampart_filter_set_elements", [], String(filterSetElements))
    }

    func writeApplies(_ w: inout Writer) {
        w.family("rampart_applies_total", "counter", "Transactions that replaced the table.")
        w.sample("rampart_applies_total", [], String(applies))
        w.family(
            "rampart_apply_failures_total", "counter",
            "Transactions the kernel refused (the previous ruleset stayed in force).")
        w.sample("rampart_apply_failures_total", [], String(applyFailures))
        w.family("rampart_apply_duration_seconds", "summary", "Time to compile and commit a ruleset.", unit: "seconds")
        w.sample("rampart_apply_duration_seconds_sum", [], String(applySeconds))
        w.sample("rampart_apply_duration_seconds_count", [], String(applies + applyFailures))
        if let lastApplyTimestamp {
            w.family(
                "rampart_last_apply_timestamp_seconds", "gauge",
                "When the last transaction ended, seconds since the epoch.", unit: "seconds")
            w.sample("rampart_last_apply_timestamp_seconds", [], Writer.number(lastApplyTimestamp.rounded()))
        }
        w.family("rampart_restores_total", "counter", "Times rampartd put its table back after a foreign change.")
        w.sample("rampart_restores_total", [], String(restores))
    }

    /// Label values: backslash, quote and newline escaped.
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }

    /// Per-filter counts from the kernel's rule and element counters: a filter's rules (and its
    /// elements in grouped sets) summed; the rules of no filter (loopback, exemptions) and the
    /// grouped rules themselves (their elements are counted) are left out.
    public static func filterCounts(_ counters: [RuleCounter], origins: [String: FilterOrigin]) -> [FilterCount] {
        var out: [FilterCount] = []
        var index: [String: Int] = [:]
        for c in counters {
            guard let origin = origins[c.id] else { continue }
            let key = c.id + " " + c.chain
            if let i = index[key] {
                out[i].packets += c.packets
                out[i].bytes += c.bytes
            } else {
                index[key] = out.count
                out.append(
                    FilterCount(
                        filter: c.id, chain: c.chain, policy: origin.policy, rule: origin.rule, packets: c.packets,
                        bytes: c.bytes))
            }
        }
        return out
    }
}
