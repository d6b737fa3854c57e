import FoundationEssentials
import RampartCompiler
import RampartPolicy
import RampartVici

/// What `rampart monitor` shows, as rampartd answers its `monitor` query: the IP Security
/// Monitor's views — the active policy, the generic filters as configured, the specific filters
/// with server types and host names expanded to their current addresses, per-filter counters,
/// the last drops, and the dynamic sets with their sources.
public struct MonitorSnapshot: Codable, Sendable, Equatable {
    public struct Filter: Codable, Sendable, Equatable {
        public var id: String
        public var origin: String
        public var source: String
        public var destination: String
        public var proto: String
        /// A number in JSON (0 any), or text for a range or list (`1024-65535`, `80,443`).
        public var sourcePort: PortMatch
        public var destinationPort: PortMatch
        public var inbound: String
        public var outbound: String
        /// Generic view: the filter is mirrored. Specific view: this row is a mirror half.
        public var mirrored: Bool

        public init(
            id: String, origin: String, source: String, destination: String, proto: String, sourcePort: PortMatch,
            destinationPort: PortMatch,
            inbound: String, outbound: String, mirrored: Bool
        ) {
            self.id = id
            self.origin = origin
            self.source = source
            self.destination = destination
            self.proto = proto
            self.sourcePort = sourcePort
            self.destinationPort = destinationPort
            self.inbound = inbound
            self.outbound = outbound
            self.mirrored = mirrored
        }
    }

    public struct Counter: Codable, Sendable, Equatable {
        public var id: String
        public var packets: UInt64
        public var bytes: UInt64

        public init(id: String, packets: UInt64, bytes: UInt64) {
            self.id = id
            self.packets = packets
            self.bytes = bytes
        }
    }

    public struct AddressSet: Codable, Sendable, Equatable {
        public var name: String
        public var addresses: [String]
        public var source: String?
        public var changed: Double?
        public var error: String?

        public init(name: String, addresses: [String], source: String?, changed: Double?, error: String? = nil) {
            self.name = name
            self.addresses = addresses
            self.source = source
            self.changed = changed
            self.error = error
        }
    }

    public struct Policy: Codable, Sendable, Equatable {
        public var location: String
        public var name: String?

        public init(location: String, name: String?) {
            self.location = location
            self.name = name
        }
    }

    public var time: Double
    public var state: String
    public var problems: [String]
    public var enforcing: String
    public var bootMode: String
    public var policies: [Policy]
    public var store: String
    public var storeModified: Double?
    public var lastApply: String?
    public var generic: [Filter]
    public var specific: [Filter]
    public var counters: [Counter]
    /// The newest records: of the interval in progress, then of the last one.
    public var drops: [DropLog.Record]
    public var sets: [AddressSet]
    /// The IPsec views, when the policy in force negotiates (charon's SAs, statistics).
    public var ipsec: IPsecView?
    /// How many rows each view has in all, when the snapshot holds only the first `rowLimit`.
    public var totals: Totals?

    public struct Totals: Codable, Sendable, Equatable {
        public var generic: Int
        public var specific: Int
        public var counters: Int

        public init(generic: Int, specific: Int, counters: Int) {
            self.generic = generic
            self.specific = specific
            self.counters = counters
        }
    }

    /// Rows per view a snapshot carries at most: a frame is a screen, and a reply to any member
    /// stays small (`--once` says how many more there are).
    public static let rowLimit = 500

    public init(
        time: Double, state: String, problems: [String], enforcing: String, bootMode: String, policies: [Policy],
        store: String,
        storeModified: Double?, lastApply: String?, generic: [Filter], specific: [Filter], counters: [Counter],
        drops: [DropLog.Record], sets: [AddressSet]
    ) {
        self.time = time
        self.state = state
        self.problems = problems
        self.enforcing = enforcing
        self.bootMode = bootMode
        self.policies = policies
        self.store = store
        self.storeModified = storeModified
        self.lastApply = lastApply
        self.generic = generic
        self.specific = specific
        self.counters = counters
        self.drops = drops
        self.sets = sets
    }

    /// The filters of `store` and `dynamic` in both views: the first `limit` rows of each, and
    /// how many there are in all.
    public static func filters(
        _ store: Store, dynamic: DynamicState, addresses: DynamicAddresses, limit: Int = rowLimit
    )
        -> (generic: [Filter], specific: [Filter], genericTotal: Int, specificTotal: Int)
    {
        let active = Ordering.display(EffectiveFilters.collect(store, dynamic: dynamic))
        func row(_ f: ActiveFilter, _ source: String, _ destination: String, mirrored: Bool) -> Filter {
            Filter(
                id: f.id, origin: f.origin.description, source: source, destination: destination,
                proto: f.proto.description + (f.tcpFlags.map { " flags \($0)" } ?? ""),
                sourcePort: f.sourcePort, destinationPort: f.destinationPort, inbound: f.inbound.rawValue,
                outbound: f.outbound.rawValue,
                mirrored: mirrored)
        }
        // A filter's halves are F12 and F12m: the generic view is the first, marked mirrored when both exist.
        let mirroredIDs = Set(active.filter(\.isMirror).map { String($0.id.dropLast()) })
        let halves = active.filter { !$0.isMirror }.sorted { ($0.group, $0.seq) < ($1.group, $1.seq) }
        let generic = halves.prefix(limit).map {
            row($0, $0.source.display, $0.destination.display, mirrored: mirroredIDs.contains($0.id))
        }
        let groups = GroupTable(store)
        func expanded(_ a: AddressSpec, _ origin: FilterOrigin) -> [String] {
            switch a {
            case .group(let name):
                let list = groups.group(name, for: origin)?.elements.map(\.description) ?? []
                return list.isEmpty ? ["(group \(name) empty)"] : list
            case .server(let type):
                let list = addresses.addresses(for: type).map(\.description)
                return list.isEmpty ? ["(no \(type.rawValue) server)"] : list
            case .dnsName(let name, let prefix):
                let list = (addresses.names[name] ?? []).map { a in prefix.map { "\(a)/\($0)" } ?? a.description }
                return list.isEmpty ? ["(\(name) unresolved)"] : list
            default:
                return [a.display]
            }
        }
        var specific: [Filter] = []
        var specificTotal = 0
        for f in active {
            let sources = expanded(f.source, f.origin), destinations = expanded(f.destination, f.origin)
            specificTotal += sources.count * destinations.count
            guard specific.count < limit else { continue }
            for s in sources {
                for d in destinations where specific.count < limit {
                    specific.append(row(f, s, d, mirrored: f.isMirror))
                }
            }
        }
        return (Array(generic), specific, halves.count, specificTotal)
    }

    /// Per-filter totals: of the filters in `shown` (nil: all), and the `top` busiest besides.
    public static func counters(
        _ counts: [MetricsSnapshot.FilterCount], shown: Set<String>? = nil, top: Int = 50
    ) -> [Counter] {
        var out: [String: Counter] = [:]
        for c in counts {
            out[c.filter, default: Counter(id: c.filter, packets: 0, bytes: 0)].packets += c.packets
            out[c.filter, default: Counter(id: c.filter, packets: 0, bytes: 0)].bytes += c.bytes
        }
        guard let shown else { return out.values.sorted { $0.id < $1.id } }
        let busiest = Set(out.values.sorted { $0.packets > $1.packets }.prefix(top).map(\.id))
        return out.values.filter { shown.contains($0.id) || busiest.contains($0.id) }.sorted { $0.id < $1.id }
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    public static func decode(_ text: String) -> MonitorSnapshot? {
        try? JSONDecoder().decode(MonitorSnapshot.self, from: Data(text.utf8))
    }
}

/// One frame of `rampart monitor`, as text. `previous` gives the rates; `height` (terminal rows)
/// trims the specific filters to fit, nil prints everything (`--once`).
public enum MonitorView {
    public static func frame(_ s: MonitorSnapshot, previous: MonitorSnapshot?, height: Int?) -> String {
        let head = header(s)
        var genericText = TextTable.render(genericRows(s))
        if let t = s.totals, t.generic > s.generic.count {
            genericText +=
                "  … \(t.generic - s.generic.count) more generic filters ('rampart show active' lists them all)\n"
        }
        let dropsText = s.drops.isEmpty ? "  none\n" : TextTable.render(dropRows(s))
        let setsText = TextTable.render(setRows(s))
        let ipsecText = s.ipsec.map(ipsec) ?? ""
        var specificLines = TextTable.render(specificRows(s, previous: previous)).split(
            separator: "\n", omittingEmptySubsequences: false
        ).dropLast().map(String.init)
        if let t = s.totals, t.specific > s.specific.count {
            specificLines.append(
                "  … \(t.specific - s.specific.count) more specific filters (a frame carries \(MonitorSnapshot.rowLimit) at most)"
            )
        }
        if let height {
            let fixed =
                head.split(separator: "\n", omittingEmptySubsequences: false).count
                + genericText.split(separator: "\n").count
                + dropsText.split(separator: "\n").count + setsText.split(separator: "\n").count
                + ipsecText.split(separator: "\n").count + 8
            let room = max(2, height - fixed)
            if specificLines.count > room {
                let hidden = specificLines.count - (room - 1)
                specificLines =
                    Array(specificLines.prefix(room - 1)) + ["  … \(hidden) more (rampart monitor --once shows all)"]
            }
        }
        return head + "\nGeneric filters (as configured)\n" + genericText
            + "\nSpecific filters (server types and host names expanded; counters since the last apply)\n"
            + specificLines.joined(separator: "\n") + "\n"
            + "\nLast drops\n" + dropsText
            + "\nDynamic sets\n" + setsText + ipsecText
    }

    static func header(_ s: MonitorSnapshot) -> String {
        let assigned = s.policies.map { "\($0.location): \($0.name.map { "\"\($0)\"" } ?? "none assigned")" }.joined(
            separator: ", ")
        var head = """
            Rampart monitor — rampartd \(s.state)\(s.problems.isEmpty ? ", healthy" : ", \(s.problems.count) problem(s)")   \(DropLog.timestamp(s.time.rounded(.down)))
            Policy: \(assigned); enforcing \(s.enforcing); boot mode \(s.bootMode)
            Store: \(s.store)\(s.storeModified.map { ", modified \(DropLog.timestamp($0.rounded(.down)))" } ?? "")\(s.lastApply.map { "; last apply: \($0)" } ?? "")

            """
        for p in s.problems { head += "  problem: \(p)\n" }
        return head
    }

    static func genericRows(_ s: MonitorSnapshot) -> [[String]] {
        [["ID", "SOURCE", "DESTINATION", "PROTO", "SPORT", "DPORT", "MIRRORED", "IN", "OUT", "ORIGIN"]]
            + s.generic.map { f in
                [
                    f.id, f.source, f.destination, f.proto, port(f.sourcePort), port(f.destinationPort),
                    f.mirrored ? "yes" : "no", f.inbound, f.outbound, f.origin
                ]
            }
    }

    /// With each filter's counters once (its first row) and its packet rate since `previous`.
    static func specificRows(_ s: MonitorSnapshot, previous: MonitorSnapshot?) -> [[String]] {
        let before = Dictionary(uniqueKeysWithValues: (previous?.counters ?? []).map { ($0.id, $0) })
        let elapsed = previous.map { s.time - $0.time } ?? 0
        let counters = Dictionary(uniqueKeysWithValues: s.counters.map { ($0.id, $0) })
        var specific = [
            ["ID", "SOURCE", "DESTINATION", "PROTO", "SPORT", "DPORT", "ACTION", "PACKETS", "BYTES", "PKT/S"]
        ]
        var shown = Set<String>()
        for f in s.specific {
            let c = counters[f.id]
            let first = shown.insert(f.id).inserted
            var rate = ""
            if first, let c, let b = before[f.id], elapsed > 0, c.packets >= b.packets {
                rate = oneDecimal(Double(c.packets - b.packets) / elapsed)
            }
            let action = f.mirrored ? f.outbound : f.inbound
            specific.append([
                f.id, f.source, f.destination, f.proto, port(f.sourcePort), port(f.destinationPort), action,
                first ? String(c?.packets ?? 0) : "", first ? String(c?.bytes ?? 0) : "", rate
            ])
        }
        return specific
    }

    static func dropRows(_ s: MonitorSnapshot) -> [[String]] {
        [["LAST", "DIR", "FILTER", "PROTO", "SOURCE", "DESTINATION", "PORT", "COUNT"]]
            + s.drops.map { r in
                [
                    DropLog.timestamp(r.last), r.direction, r.filter, r.proto, r.source, r.destination,
                    r.icmpType.map { "type \($0)" } ?? r.port.map(String.init) ?? "", String(r.count)
                ]
            }
    }

    static func setRows(_ s: MonitorSnapshot) -> [[String]] {
        [["SET", "ADDRESSES", "FROM", "CHANGED"]]
            + s.sets.map { a in
                [
                    a.name, a.addresses.isEmpty ? "(none)" : a.addresses.joined(separator: " "),
                    a.error.map { "error: \($0)" } ?? a.source ?? "",
                    a.changed.map { DropLog.timestamp($0.rounded(.down)) } ?? ""
                ]
            }
    }

    static func ipsec(_ v: IPsecView) -> String {
        var text = "\nIPsec — " + v.mainModeText() + v.quickModeText()
        var stats = (v.daemon ?? []).filter { $0.value > 0 }.map { "\($0.name.lowercased()) \($0.value)" }
        if let x = v.xfrm {
            stats += XfrmStats.labels.compactMap { key, label in x[key].flatMap { $0 > 0 ? "\(key) \($0)" : nil } }
        }
        text += "Statistics: " + (stats.isEmpty ? "no events, no xfrm errors" : stats.joined(separator: ", ")) + "\n"
        if let last = v.lastFailure { text += "Last negotiation failure: \(last)\n" }
        return text
    }

    static func port(_ p: PortMatch) -> String { p.isAny ? "any" : p.description }

    static func oneDecimal(_ x: Double) -> String {
        let tenths = Int((x * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
