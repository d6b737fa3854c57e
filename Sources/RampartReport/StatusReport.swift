import FoundationEssentials
import RampartPolicy

/// What `rampart status` shows, as plain data: the daemon fills it in one step, the rendering
/// happens wherever is convenient (off the engine's thread).
public struct DaemonStatus: Sendable {
    public struct LastApply: Sendable {
        public var at: Date
        public var milliseconds: Double
        public var ok: Bool
        public var result: String
        public init(at: Date, milliseconds: Double, ok: Bool, result: String) {
            self.at = at
            self.milliseconds = milliseconds
            self.ok = ok
            self.result = result
        }
    }

    public struct Service: Sendable {
        public var name: String
        /// running, starting, stopped, or FAILED: reason…
        public var state: String
        public var failed: Bool
        /// Failures since rampartd started, and the last one's reason (kept once it runs again).
        public var failures = 0
        public var lastFailure: String?
        public init(name: String, state: String, failed: Bool) {
            self.name = name
            self.state = state
            self.failed = failed
        }
    }

    /// starting, boot, running, degraded, stopping
    public var state = "starting"
    public var pid: Int32 = 0
    public var startedAt = Date()
    public var enforcing = "nothing"
    /// The table could not be put back after a foreign change: nothing of ours is in force.
    public var restoreFailing = false
    public var rules = 0
    public var sets = 0
    public var storePath = ""
    public var storeState = ""
    public var socket = ""
    public var bootMode = ""
    public var assignedPolicies: [(location: String, name: String?)] = []
    public var activeFilters = 0
    public var dynamicRules = 0
    public var lastApply: LastApply?
    public var bootMilliseconds: Double?
    public var readyMilliseconds: Double?
    public var restores = 0
    /// Reloads begun since the start, and whether one runs or waits now.
    public var reloads = 0
    public var reloading = false
    public var pendingDeadline: Date?
    public var problems: [String] = []
    public var services: [Service] = []
    public var failedLookups: [(name: String, error: String)] = []
    /// The domain policy in force (docs/fleet.md), and the fleet service's connection to etcd.
    public var domain: String?
    public var fleet: String?
    /// What charon holds for the negotiate filters and what it reported (docs/ipsec.md); nil: no negotiate.
    public var ipsec: String?
    /// Where drop logging stands; nil in the one-line status (it reads the kernel's counters).
    public var drops: DropActivity?
    /// rampartd.conf's `log_file`: where the drop records go besides the journal.
    public var logFile: String?

    public init() {}
}

/// Where drop logging stands: whether every drop the kernel's log rules saw is in the log yet.
public struct DropActivity: Sendable, Equatable {
    /// Intervals summarised since rampartd started.
    public var intervals = 0
    /// Packets the log rules handed to NFLOG that rampartd has not received or counted lost; nil
    /// when that is unknown (no NFLOG reader, or the counters could not be read).
    public var unread: Int?
    /// An interval is collecting drops (or packets wait to join it): its summary is still to come.
    public var collecting = false
    /// Checking the kernel's counters after an NFLOG overrun.
    public var reconciling = false
    /// An interval's records wait to be written to `log_file`.
    public var writing = false

    /// Every drop seen so far is logged: nothing unread, collecting, reconciling or being written.
    public var idle: Bool { unread == 0 && !collecting && !reconciling && !writing }

    public init() {}

    /// For `rampart status`: "idle, 3 interval(s) logged" or what is still under way.
    public var description: String {
        var busy: [String] = []
        if let unread, unread > 0 { busy.append("\(unread) packet(s) not yet read from NFLOG") }
        if unread == nil { busy.append("what NFLOG still holds is unknown") }
        if collecting { busy.append("an interval is collecting") }
        if reconciling { busy.append("reconciling with the kernel's counters") }
        if writing { busy.append("writing the drop log") }
        return (busy.isEmpty ? "idle" : busy.joined(separator: ", ")) + "; \(intervals) interval(s) logged"
    }

    public var json: JSONValue {
        .object([
            ("idle", .bool(idle)), ("intervals", .int(intervals)), ("unread", unread.map { .int($0) } ?? .null),
            ("collecting", .bool(collecting)), ("reconciling", .bool(reconciling)), ("writing", .bool(writing))
        ])
    }
}

public enum StatusReport {
    /// The one-line summary (systemd's STATUS=, the log).
    public static func line(_ s: DaemonStatus) -> String {
        var parts = ["\(s.state): enforcing the \(s.enforcing)", "store \(s.storeState)"]
        if s.dynamicRules > 0 { parts.append("\(s.dynamicRules) dynamic rules") }
        parts += s.problems
        return parts.joined(separator: "; ")
    }

    public static func text(_ s: DaemonStatus) -> String {
        var lines = [
            "rampartd \(s.state) (pid \(s.pid), up since \(iso(s.startedAt)))", "  policy:      \(policyLine(s))"
        ]
        // What needs the admin first, then the rest.
        for p in s.problems { lines.append("  PROBLEM:     \(p)") }
        lines += [
            s.restoreFailing
                ? "  enforcing:   NOTHING: the \(s.enforcing) could not be restored (see PROBLEM)"
                : "  enforcing:   the \(s.enforcing) (\(s.rules) rules, \(s.sets) sets)",
            "  store:       \(s.storePath): \(s.storeState)",
            "  boot mode:   \(s.bootMode)",
            "  filters:     \(s.activeFilters) active, \(s.dynamicRules) dynamic rules"
        ]
        if let d = s.domain { lines.append("  domain:      \(d)") }
        if let f = s.fleet { lines.append("  fleet:       \(f)") }
        if let i = s.ipsec { lines.append("  ipsec:       \(i)") }
        if let d = s.drops { lines.append("  drops:       \(d.description)") }
        if s.reloads > 0 {
            lines.append("  reloads:     \(s.reloads) since the start\(s.reloading ? ", one under way" : "")")
        }
        if let a = s.lastApply {
            lines.append(
                "  last apply:  \(iso(a.at)), \(decimal(a.milliseconds)) ms, \(a.ok ? "ok" : "FAILED"): \(a.result)")
        }
        if let b = s.bootMilliseconds, let r = s.readyMilliseconds {
            lines.append("  startup:     boot mode enforced \(decimal(b)) ms after exec, ready after \(decimal(r)) ms")
        }
        if s.restores > 0 { lines.append("  restored:    \(s.restores) time(s) after foreign changes to the table") }
        if let deadline = s.pendingDeadline {
            lines.append(
                "  PENDING:     unconfirmed change; rolls back at \(iso(deadline)) unless 'rampart confirm' (or at once if rampartd restarts)"
            )
        }
        if !s.services.isEmpty {
            let width = s.services.map(\.name.count).max() ?? 0
            lines.append(
                "  services:    "
                    + s.services.enumerated().map { i, service in
                        (i == 0 ? "" : "               ") + pad(service.name, width) + "  " + service.state
                            + (service.failed || service.failures == 0
                                ? ""
                                : " (failed \(service.failures) time\(service.failures == 1 ? "" : "s"), last: \(service.lastFailure ?? "?"))")
                    }.joined(separator: "\n"))
        }
        for l in s.failedLookups {
            lines.append("  LOOKUP:      \(l.name) failed (\(l.error)); its set keeps the last known addresses")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The assigned policy of each store location ("local: Web Server; persistent: none"), and
    /// the domain's when there is one.
    static func policyLine(_ s: DaemonStatus) -> String {
        guard s.assignedPolicies.contains(where: { $0.name != nil }) else {
            return "none assigned: no stored filter is in force"
        }
        return s.assignedPolicies.map { "\($0.location): \($0.name ?? "none")" }.joined(separator: "; ")
    }

    public static func json(_ s: DaemonStatus) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("state", .string(s.state)),
            ("pid", .int(Int(s.pid))),
            ("enforcing", .string(s.enforcing)),
            ("bootMode", .string(s.bootMode)),
            ("store", .object([("path", .string(s.storePath)), ("state", .string(s.storeState))])),
            ("socket", .string(s.socket)),
            (
                "assignedPolicies",
                .object(s.assignedPolicies.map { ($0.location, $0.name.map { .string($0) } ?? .null) })
            ),
            ("activeFilters", .int(s.activeFilters)),
            ("rules", .int(s.rules)),
            ("sets", .int(s.sets)),
            ("dynamicRules", .int(s.dynamicRules)),
            ("restores", .int(s.restores)),
            ("problems", .array(s.problems.map { .string($0) })),
            (
                "services",
                .object(
                    s.services.map {
                        (
                            $0.name,
                            .object([
                                ("state", .string($0.state)), ("failed", .bool($0.failed)),
                                ("failures", .int($0.failures)),
                                ("lastFailure", $0.lastFailure.map { .string($0) } ?? .null)
                            ])
                        )
                    })
            ),
            ("bootEnforcedMs", s.bootMilliseconds.map { .string(decimal($0)) } ?? .null),
            ("readyMs", s.readyMilliseconds.map { .string(decimal($0)) } ?? .null)
        ]
        if let a = s.lastApply {
            members.append(
                (
                    "lastApply",
                    .object([
                        ("at", .string(iso(a.at))), ("ms", .string(decimal(a.milliseconds))),
                        ("ok", .bool(a.ok)), ("result", .string(a.result))
                    ])
                ))
        } else {
            members.append(("lastApply", .null))
        }
        members.append(("domain", s.domain.map { JSONValue.string($0) } ?? JSONValue.null))
        members.append(("fleet", s.fleet.map { JSONValue.string($0) } ?? JSONValue.null))
        members.append(("ipsec", s.ipsec.map { JSONValue.string($0) } ?? JSONValue.null))
        members.append(("drops", s.drops?.json ?? .null))
        members.append(("logFile", s.logFile.map { .string($0) } ?? .null))
        members.append(("reloads", .object([("count", .int(s.reloads)), ("underWay", .bool(s.reloading))])))
        if let deadline = s.pendingDeadline {
            members.append(("pendingConfirm", .object([("deadline", .string(iso(deadline)))])))
        }
        return .object(members)
    }

    /// One decimal place, as `%.1f` prints it.
    public static func decimal(_ x: Double) -> String {
        let tenths = Int((x * 10).rounded())
        return (tenths < 0 ? "-" : "") + "\(abs(tenths) / 10).\(abs(tenths) % 10)"
    }

    public static func iso(_ date: Date) -> String { date.formatted(.iso8601) }

    static func pad(_ s: String, _ width: Int) -> String { TextTable.pad(s, width) }
}

/// What `rampart dynamic` shows: each server type's addresses and where they came from, and
/// each host name's.
public struct AddressBookReport: Sendable {
    public struct TypeRow: Sendable {
        public var type: String
        public var addresses: [String]
        public var source: String?
        public var changed: Date?
        public init(type: String, addresses: [String], source: String?, changed: Date?) {
            self.type = type
            self.addresses = addresses
            self.source = source
            self.changed = changed
        }
    }

    public struct NameRow: Sendable {
        public var name: String
        public var addresses: [String]
        public var resolved: Date?
        public var error: String?
        public init(name: String, addresses: [String], resolved: Date?, error: String?) {
            self.name = name
            self.addresses = addresses
            self.resolved = resolved
            self.error = error
        }
    }

    public var types: [TypeRow]
    public var names: [NameRow]

    public init(types: [TypeRow], names: [NameRow]) {
        self.types = types
        self.names = names
    }

    public var text: String {
        var lines: [String] = []
        for row in types {
            var line =
                "\(StatusReport.pad(row.type, 8)) \(row.addresses.isEmpty ? "(none)" : row.addresses.joined(separator: ", "))"
            if let source = row.source, let changed = row.changed {
                line += "  from \(source), changed \(StatusReport.iso(changed))"
            }
            lines.append(line)
        }
        for row in names {
            var line = "\(row.name)  \(row.addresses.isEmpty ? "(unresolved)" : row.addresses.joined(separator: ", "))"
            if let at = row.resolved {
                line += "  resolved \(StatusReport.iso(at))" + (row.error.map { "; LAST LOOKUP FAILED: \($0)" } ?? "")
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public var json: JSONValue {
        var members: [(String, JSONValue)] = types.map { row in
            (
                row.type,
                .object([
                    ("addresses", .array(row.addresses.map { .string($0) })),
                    ("source", row.source.map { .string($0) } ?? .null),
                    ("changed", row.changed.map { .string(StatusReport.iso($0)) } ?? .null)
                ])
            )
        }
        members.append(
            (
                "names",
                .object(
                    names.map { row in
                        (
                            row.name,
                            .object([
                                ("addresses", .array(row.addresses.map { .string($0) })),
                                ("resolved", row.resolved.map { .string(StatusReport.iso($0)) } ?? .null),
                                ("error", row.error.map { .string($0) } ?? .null)
                            ])
                        )
                    })
            ))
        return .object(members)
    }
}
