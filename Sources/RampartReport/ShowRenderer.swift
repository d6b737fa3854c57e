import RampartPolicy
import RampartVici
/// Renders `Output` as readable text or as JSON (`--json`). The JSON shape is a contract:
/// `show all --json` has top-level `policies`, `filterlists`, `filteractions` and `addressgroups`.
public enum ShowRenderer {
    /// `ipsec`: what charon and the kernel said, for an `.ipsec` output (nil: nobody could ask).
    public static func text(_ output: Output, ipsec: IPsecView? = nil) -> String {
        switch output {
        case .text(let s): return s
        case .ipsec(let q): return (ipsec ?? .unasked).text(q)
        case .storeLocation(let l): return "Current store: \(l.rawValue)\n"
        case .config(let c): return configText(c)
        case .dynamic(let d): return dynamicText(d)
        case .objects(let o): return objectsText(o)
        }
    }

    public static func json(_ output: Output, ipsec: IPsecView? = nil) -> JSONValue {
        switch output {
        case .text(let s): return .object([("text", .string(s))])
        case .ipsec(let q): return (ipsec ?? .unasked).json(q)
        case .storeLocation(let l): return .object([("store", .string(l.rawValue))])
        case .config(let c): return .object([("config", configJSON(c))])
        case .dynamic(let d): return dynamicJSON(d)
        case .objects(let o):
            return .object([
                ("store", .string(o.location.rawValue)),
                ("policies", .array(o.policies.map(policyJSON))),
                ("filterlists", .array(o.filterLists.map(filterListJSON))),
                ("filteractions", .array(o.filterActions.map(filterActionJSON))),
                ("addressgroups", .array(o.addressGroups.map(addressGroupJSON))),
                ("schedules", .array(o.schedules.map(scheduleJSON)))
            ])
        }
    }

    public static func scheduleJSON(_ s: Schedule) -> JSONValue {
        .object([
            ("name", .string(s.name)), ("description", .string(s.description)), ("days", .string(s.daysText)),
            ("hours", .string(s.hoursText)), ("timezone", s.timezone.map { .string($0) } ?? .null)
        ])
    }

    public static func addressGroupJSON(_ g: AddressGroup) -> JSONValue {
        .object([
            ("name", .string(g.name)), ("description", .string(g.description)),
            ("addresses", .array(g.members.map { .string($0.description) }))
        ])
    }

    // MARK: JSON

    public static func filterJSON(_ f: Filter) -> JSONValue {
        .object([
            ("id", .string(f.identifier)),
            ("srcaddr", .string(f.source.display)),
            ("dstaddr", .string(f.destination.display)),
            ("protocol", .string(f.proto.description)),
            ("srcport", portJSON(f.sourcePort)),
            ("dstport", portJSON(f.destinationPort)),
            ("tcpflags", f.tcpFlags.map { .string($0.description) } ?? .null),
            ("mirrored", .bool(f.mirrored)),
            ("description", .string(f.description))
        ])
    }

    /// A number for netsh's ports (0 any), the text (`1024-65535`, `80,443`) for the extension.
    public static func portJSON(_ p: PortMatch) -> JSONValue {
        p.isAny ? .int(0) : p.single.map { .int(Int($0)) } ?? .string(p.description)
    }

    static func offers<T: CustomStringConvertible>(_ list: [T]) -> JSONValue {
        .array(list.map { .string($0.description) })
    }

    static func authJSON(_ methods: [AuthMethod]) -> JSONValue {
        .array(
            methods.map { m in
                switch m {
                case .kerberos: return .object([("kerberos", .bool(true))])
                case .presharedKey: return .object([("psk", .string("(set)"))])
                case .rootCA(let c): return .object([("rootca", .string(c))])
                }
            })
    }

    public static func policyJSON(_ p: Policy) -> JSONValue {
        .object([
            ("name", .string(p.name)),
            ("description", .string(p.description)),
            ("guid", .string(p.guid)),
            ("assigned", .bool(p.assigned)),
            ("mmpfs", .bool(p.mmpfs)),
            ("qmpermm", .int(p.qmpermm)),
            ("mmlifetime", .int(p.mmlifetime)),
            ("pollinginterval", .int(p.pollingInterval)),
            ("mmsecmethods", offers(p.mmsecmethods)),
            (
                "defaultrule",
                .object([
                    ("activate", .bool(p.defaultRule.active)),
                    ("qmpfs", .bool(p.defaultRule.qmpfs)),
                    ("qmsecmethods", offers(p.defaultRule.qmsecmethods)),
                    ("auth", authJSON(p.defaultRule.authMethods))
                ])
            ),
            (
                "rules",
                .array(
                    p.rules.map { r in
                        var members: [(String, JSONValue)] = [
                            ("id", .int(r.id)), ("name", .string(r.name)), ("description", .string(r.description)),
                            ("filterlist", .string(r.filterList)), ("filteraction", .string(r.filterAction)),
                            ("conntype", .string(r.connectionType.rawValue)), ("activate", .bool(r.active)),
                            ("auth", authJSON(r.authMethods))
                        ]
                        members.append(("tunnel", r.tunnel.map { .string($0.description) } ?? .null))
                        members.append(("schedule", r.schedule.map { .string($0) } ?? .null))
                        return .object(members)
                    })
            )
        ])
    }

    public static func filterListJSON(_ l: FilterList) -> JSONValue {
        .object([
            ("name", .string(l.name)), ("description", .string(l.description)), ("guid", .string(l.guid)),
            ("filters", .array(l.filters.map(filterJSON)))
        ])
    }

    public static func filterActionJSON(_ a: FilterAction) -> JSONValue {
        .object([
            ("name", .string(a.name)), ("description", .string(a.description)), ("guid", .string(a.guid)),
            ("action", .string(a.action.rawValue)), ("qmpfs", .bool(a.qmpfs)), ("inpass", .bool(a.inpass)),
            ("soft", .bool(a.soft)), ("qmsecmethods", offers(a.qmsecmethods))
        ])
    }

    public static func configJSON(_ c: DynamicConfig) -> JSONValue {
        .object([
            ("ipsecdiagnostics", .int(c.ipsecDiagnostics)), ("ikelogging", .int(c.ikeLogging)),
            ("strongcrlcheck", .int(c.strongCRLCheck)), ("ipsecloginterval", .int(c.ipsecLogInterval)),
            ("ipsecexempt", .int(c.ipsecExempt)), ("bootmode", .string(c.bootMode.rawValue)),
            ("bootexemptions", .array(c.bootExemptions.map { .string($0.description) }))
        ])
    }

    public static func dynamicJSON(_ d: DynamicState) -> JSONValue {
        .object([
            (
                "mmpolicies",
                .array(
                    d.mainModePolicies.map {
                        .object([("name", .string($0.name)), ("mmsecmethods", offers($0.mmsecmethods))])
                    })
            ),
            (
                "qmpolicies",
                .array(
                    d.quickModePolicies.map {
                        .object([
                            ("name", .string($0.name)), ("soft", .bool($0.soft)), ("pfsgroup", .string($0.pfsGroup)),
                            ("qmsecmethods", offers($0.qmsecmethods))
                        ])
                    })
            ),
            (
                "rules",
                .array(
                    d.rules.map { r in
                        .object([
                            ("id", .string("D\(r.seq)")), ("filter", filterJSON(r.filter)),
                            ("mmpolicy", .string(r.mmpolicy)),
                            ("qmpolicy", r.qmpolicy.map { .string($0) } ?? .null),
                            ("actioninbound", .string(r.inbound.rawValue)),
                            ("actionoutbound", .string(r.outbound.rawValue))
                        ])
                    })
            )
        ])
    }

    // MARK: text

    public static func filterLine(_ f: Filter) -> String {
        var s = "\(f.identifier): \(f.source.display) -> \(f.destination.display) \(f.proto)"
        if f.sourcePort != 0 || f.destinationPort != 0 { s += " ports \(f.sourcePort)->\(f.destinationPort)" }
        if let flags = f.tcpFlags { s += " tcpflags \(flags)" }
        s += f.mirrored ? " mirrored" : ""
        if !f.description.isEmpty { s += "  \"\(f.description)\"" }
        return s
    }

    static func objectsText(_ o: ShowObjects) -> String {
        var out = ""
        for p in o.policies {
            out += "Policy \"\(p.name)\"\(p.assigned ? " (assigned)" : "") in the \(o.location.rawValue) store\n"
            if !p.description.isEmpty { out += "  Description: \(p.description)\n" }
            if o.verbose {
                out +=
                    "  Default response rule: \(p.defaultRule.active ? "active" : "inactive") (inert: rampart does not answer IKE)\n"
            }
            for r in p.rules {
                out +=
                    "  Rule \(r.id) \"\(r.name)\": filter list \"\(r.filterList)\" -> action \"\(r.filterAction)\"\(r.active ? "" : " (inactive)")\(r.schedule.map { " (schedule \($0))" } ?? "")\n"
            }
            if p.rules.isEmpty { out += "  (no rules)\n" }
        }
        for l in o.filterLists {
            out +=
                "Filter list \"\(l.name)\"\(l.description.isEmpty ? "" : " - \(l.description)") (\(l.filters.count) filter\(l.filters.count == 1 ? "" : "s"))\n"
            for f in l.filters { out += "  \(filterLine(f))\n" }
        }
        for a in o.filterActions {
            var line = "Filter action \"\(a.name)\": \(a.action.rawValue)"
            if a.action == .negotiate {
                line += " inpass=\(a.inpass ? "yes" : "no") soft=\(a.soft ? "yes" : "no")"
                if !a.qmsecmethods.isEmpty {
                    line += " methods=\(a.qmsecmethods.map(\.description).joined(separator: " "))"
                }
            }
            out += line + "\n"
        }
        for sc in o.schedules {
            out += "Schedule \"\(sc.name)\"\(sc.description.isEmpty ? "" : " - \(sc.description)"): \(sc.summary)\n"
        }
        for g in o.addressGroups {
            out +=
                "Address group \"\(g.name)\"\(g.description.isEmpty ? "" : " - \(g.description)") (\(g.members.count) address\(g.members.count == 1 ? "" : "es")): \(g.members.map(\.description).joined(separator: ", "))\n"
        }
        if out.isEmpty { out = "Nothing to show in the \(o.location.rawValue) store.\n" }
        return out
    }

    static func configText(_ c: DynamicConfig) -> String {
        """
        ipsecdiagnostics  \(c.ipsecDiagnostics)
        ikelogging        \(c.ikeLogging)
        strongcrlcheck    \(c.strongCRLCheck)
        ipsecloginterval  \(c.ipsecLogInterval)
        ipsecexempt       \(c.ipsecExempt)
        bootmode          \(c.bootMode.rawValue)
        bootexemptions    \(c.bootExemptions.isEmpty ? "none" : c.bootExemptions.map(\.description).joined(separator: " "))

        """
    }

    static func dynamicText(_ d: DynamicState) -> String {
        var out = "Main mode policies: \(d.mainModePolicies.map(\.name).joined(separator: ", "))\n"
        out += "Quick mode policies: \(d.quickModePolicies.map(\.name).joined(separator: ", "))\n"
        for r in d.rules {
            out += "D\(r.seq): \(filterLine(r.filter)) inbound=\(r.inbound.rawValue) outbound=\(r.outbound.rawValue)\n"
        }
        if d.rules.isEmpty { out += "No dynamic rules.\n" }
        return out
    }
}
