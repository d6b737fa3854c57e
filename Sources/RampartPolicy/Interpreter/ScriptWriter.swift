/// Writes stores back as netsh scripts: `dump` (everything, runnable with `rampart exec` to
/// restore) and `exportpolicy` (one store's objects, read back by `importpolicy`).
public enum ScriptWriter {
    public static let exportHeader = "# rampart export v1"

    public static func dump(_ store: Store) -> String {
        var lines = ["# rampart dump: run with 'rampart exec FILE' to restore this configuration", "pushd ipsec static"]
        for location in [StoreLocation.persistent, .local] {
            lines.append("set store location=\(location.rawValue)")
            lines.append("delete all")
            lines += commands(for: store[location])
        }
        lines.append("popd")
        lines.append("pushd ipsec dynamic")
        lines += configCommands(store.config)
        lines.append("popd")
        return lines.joined(separator: "\n") + "\n"
    }

    public static func export(_ store: PolicyStore, location: StoreLocation) -> String {
        var lines = [
            "\(exportHeader) (objects of the \(location.rawValue) store; read with 'importpolicy')",
            "pushd ipsec static"
        ]
        lines += commands(for: store)
        lines.append("popd")
        return lines.joined(separator: "\n") + "\n"
    }

    public static func configCommands(_ c: DynamicConfig) -> [String] {
        var lines = [
            "set config ipsecdiagnostics \(c.ipsecDiagnostics)",
            "set config ikelogging \(c.ikeLogging)",
            "set config strongcrlcheck \(c.strongCRLCheck)",
            "set config ipsecloginterval \(c.ipsecLogInterval)",
            "set config ipsecexempt \(c.ipsecExempt)",
            "set config bootmode \(c.bootMode.rawValue)"
        ]
        let exemptions = c.bootExemptions.isEmpty ? "none" : c.bootExemptions.map(\.description).joined(separator: ",")
        lines.append("set config bootexemptions value=\(exemptions)")
        return lines
    }

    static func yn(_ b: Bool) -> String { b ? "yes" : "no" }

    static func filterArguments(_ f: Filter) -> [String] {
        var parts = ["srcaddr=\(quoted(f.source.description))", "dstaddr=\(quoted(f.destination.description))"]
        if let m = f.source.maskText { parts.append("srcmask=\(m)") }
        if let m = f.destination.maskText { parts.append("dstmask=\(m)") }
        parts.append("protocol=\(f.proto)")
        if f.sourcePort != 0 { parts.append("srcport=\(f.sourcePort)") }
        if f.destinationPort != 0 { parts.append("dstport=\(f.destinationPort)") }
        if let flags = f.tcpFlags { parts.append("tcpflags=\(flags)") }
        parts.append("mirrored=\(f.statefulMirror ? "stateful" : yn(f.mirrored))")
        return parts
    }

    /// Commands that recreate every object of a store, in creation order.
    public static func commands(for store: PolicyStore) -> [String] {
        var lines: [String] = []
        // Schedules and groups first: rules and filters name them.
        for sc in store.schedules.sorted(by: { $0.seq < $1.seq }) {
            var parts = ["add schedule name=\(quoted(sc.name))", "days=\(sc.daysText)", "hours=\(sc.hoursText)"]
            if let tz = sc.timezone { parts.append("timezone=\(tz)") }
            if !sc.description.isEmpty { parts.append("description=\(quoted(sc.description))") }
            lines.append(parts.joined(separator: " "))
        }
        for g in store.addressGroups.sorted(by: { $0.seq < $1.seq }) {
            var parts = ["add addressgroup name=\(quoted(g.name))", "addresses=\(g.membersText)"]
            if !g.description.isEmpty { parts.append("description=\(quoted(g.description))") }
            lines.append(parts.joined(separator: " "))
        }
        for list in store.filterLists.sorted(by: { $0.seq < $1.seq }) {
            var line = "add filterlist name=\(quoted(list.name))"
            if !list.description.isEmpty { line += " description=\(quoted(list.description))" }
            lines.append(line)
            for f in list.filters {
                var parts = ["add filter filterlist=\(quoted(list.name))"] + filterArguments(f)
                if !f.description.isEmpty { parts.append("description=\(quoted(f.description))") }
                lines.append(parts.joined(separator: " "))
            }
        }
        for a in store.filterActions.sorted(by: { $0.seq < $1.seq }) {
            var parts = ["add filteraction name=\(quoted(a.name))", "action=\(a.action.rawValue)"]
            if !a.description.isEmpty { parts.append("description=\(quoted(a.description))") }
            parts += ["qmpfs=\(yn(a.qmpfs))", "inpass=\(yn(a.inpass))", "soft=\(yn(a.soft))"]
            if !a.qmsecmethods.isEmpty {
                parts.append("qmsecmethods=\(quoted(a.qmsecmethods.map(\.description).joined(separator: " ")))")
            }
            lines.append(parts.joined(separator: " "))
        }
        for p in store.policies.sorted(by: { $0.seq < $1.seq }) { lines += policyCommands(p) }
        return lines
    }

    /// A policy, its default response rule, its rules, then its assignment.
    static func policyCommands(_ p: Policy) -> [String] {
        var lines: [String] = []
        var parts = ["add policy name=\(quoted(p.name))"]
        if !p.description.isEmpty { parts.append("description=\(quoted(p.description))") }
        parts += [
            "mmpfs=\(yn(p.mmpfs))", "qmpermm=\(p.qmpermm)", "mmlifetime=\(p.mmlifetime)",
            "activatedefaultrule=\(yn(p.defaultRule.active))", "pollinginterval=\(p.pollingInterval)", "assign=no"
        ]
        if !p.mmsecmethods.isEmpty {
            parts.append("mmsecmethods=\(quoted(p.mmsecmethods.map(\.description).joined(separator: " ")))")
        }
        lines.append(parts.joined(separator: " "))
        let d = p.defaultRule
        var def = ["set defaultrule policy=\(quoted(p.name))", "qmpfs=\(yn(d.qmpfs))", "activate=\(yn(d.active))"]
        if !d.qmsecmethods.isEmpty {
            def.append("qmsecmethods=\(quoted(d.qmsecmethods.map(\.description).joined(separator: " ")))")
        }
        def += d.authMethods.map(\.description)
        lines.append(def.joined(separator: " "))
        for r in p.rules {
            var parts = [
                "add rule name=\(quoted(r.name))", "policy=\(quoted(p.name))", "filterlist=\(quoted(r.filterList))",
                "filteraction=\(quoted(r.filterAction))", "conntype=\(r.connectionType.rawValue)",
                "activate=\(yn(r.active))"
            ]
            if let t = r.tunnel { parts.append("tunnel=\(quoted(t.description))") }
            if let sc = r.schedule { parts.append("schedule=\(quoted(sc))") }
            if !r.description.isEmpty { parts.append("description=\(quoted(r.description))") }
            parts += r.authMethods.map(\.description)
            lines.append(parts.joined(separator: " "))
        }
        if p.assigned { lines.append("set policy name=\(quoted(p.name)) assign=yes") }
        return lines
    }
}
