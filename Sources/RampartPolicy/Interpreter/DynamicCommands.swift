/// `netsh ipsec dynamic …` (reference §5, §6). `set config` is persistent and works offline;
/// rules and main/quick mode policies are runtime-only and need rampartd to hold them.
extension Interpreter {
    mutating func executeDynamic(_ a: Args) throws(Diagnostic) {
        switch (a.spec.verb, a.spec.noun) {
        case ("set", "config"): try setConfig(a)
        case ("show", "config"): emit(.config(store.config))
        case ("show", "all"):
            emit(.config(store.config))
            if let dynamic {
                emit(.dynamic(dynamic))
            } else {
                emit(.text("Dynamic rules: none held (rampartd is not running or was not asked).\n"))
            }
        case ("show", "mmsas"), ("show", "qmsas"), ("show", "stats"):
            emit(.ipsec(try ipsecQuery(a)))
        case ("dump", nil): emit(.text(ScriptWriter.dump(store)))
        default:
            guard dynamic != nil else {
                throw .error(
                    "'\(a.spec.name)' changes runtime-only state, which lives in rampartd; the daemon is not running. Use 'static' commands to change the stored policy",
                    at: a.command.location)
            }
            try executeRuntime(a)
        }
    }

    /// `srcaddr`/`dstaddr` select SAs by their local and peer address (`me` and `any` select all);
    /// `show stats type=ike|ipsec|all`.
    private func ipsecQuery(_ a: Args) throws(Diagnostic) -> IPsecQuery {
        var q = IPsecQuery(view: IPsecQuery.View(rawValue: a.spec.noun ?? "") ?? .stats)
        func address(_ name: String) throws(Diagnostic) -> String? {
            guard let arg = a.argument(name), let text = a.string(name) else { return nil }
            if text.caseInsensitiveEquals("me") || text.caseInsensitiveEquals("any") { return nil }
            guard let ip = IPAddress(text) else {
                throw .error("\(name)=\(text): an IP address, me or any", at: arg.location)
            }
            return ip.description
        }
        q.source = try address("srcaddr")
        q.destination = try address("dstaddr")
        if let arg = a.argument("type"), let t = a.string("type")?.lowercased() {
            switch t {
            case "ike": q.ipsec = false
            case "ipsec": q.ike = false
            case "all": break
            default: throw .error("type=\(t): ike, ipsec or all", at: arg.location)
            }
        }
        return q
    }

    private mutating func executeRuntime(_ a: Args) throws(Diagnostic) {
        var state = dynamic!
        defer { dynamic = state }
        switch (a.spec.verb, a.spec.noun) {
        case ("delete", "all"):
            state = DynamicState()
        case ("show", _):
            emit(.dynamic(state))
        case (_, "mmpolicy"):
            try mainModePolicy(a, &state)
        case (_, "qmpolicy"):
            try quickModePolicy(a, &state)
        case (_, "rule"):
            try runtimeRule(a, &state)
        default:
            throw .error("'\(a.spec.name)' is not implemented", at: a.command.location)
        }
    }

    private mutating func mainModePolicy(_ a: Args, _ state: inout DynamicState) throws(Diagnostic) {
        switch a.spec.verb {
        case "add":
            let name = try a.newName("name")
            if state.mainModePolicies.contains(where: { $0.name.caseInsensitiveEquals(name) }) {
                throw .error("main mode policy '\(name)' already exists", at: a.argument("name")!.location)
            }
            var p = DynamicState.MainModePolicy(name: name)
            try applyMainMode(a, to: &p)
            state.mainModePolicies.append(p)
        case "set":
            let arg = try a.required("name")
            guard let i = state.mainModePolicies.firstIndex(where: { $0.name.caseInsensitiveEquals(arg.value) }) else {
                throw .error(
                    "no main mode policy named '\(arg.value)'"
                        + suggestion(for: arg.value, among: state.mainModePolicies.map(\.name)), at: arg.location)
            }
            try applyMainMode(a, to: &state.mainModePolicies[i])
        case "delete":
            let rules = state.rules
            let doomed = try namesToDelete(a, kind: "main mode policy", among: state.mainModePolicies.map(\.name)) {
                name in
                rules.contains { $0.mmpolicy.caseInsensitiveEquals(name) }
                    ? "main mode policy '\(name)' is used by a dynamic rule" : nil
            }
            state.mainModePolicies.removeAll { p in doomed.contains(p.name) }
        default:
            throw .error("'\(a.spec.name)' is not implemented", at: a.command.location)
        }
    }

    private mutating func quickModePolicy(_ a: Args, _ state: inout DynamicState) throws(Diagnostic) {
        switch a.spec.verb {
        case "add":
            let name = try a.newName("name")
            if state.quickModePolicies.contains(where: { $0.name.caseInsensitiveEquals(name) }) {
                throw .error("quick mode policy '\(name)' already exists", at: a.argument("name")!.location)
            }
            var p = DynamicState.QuickModePolicy(name: name)
            try applyQuickMode(a, to: &p)
            state.quickModePolicies.append(p)
        case "set":
            let arg = try a.required("name")
            guard let i = state.quickModePolicies.firstIndex(where: { $0.name.caseInsensitiveEquals(arg.value) }) else {
                throw .error(
                    "no quick mode policy named '\(arg.value)'"
                        + suggestion(for: arg.value, among: state.quickModePolicies.map(\.name)), at: arg.location)
            }
            try applyQuickMode(a, to: &state.quickModePolicies[i])
        case "delete":
            let rules = state.rules
            let doomed = try namesToDelete(a, kind: "quick mode policy", among: state.quickModePolicies.map(\.name)) {
                name in
                rules.contains { $0.qmpolicy?.caseInsensitiveEquals(name) == true }
                    ? "quick mode policy '\(name)' is used by a dynamic rule" : nil
            }
            state.quickModePolicies.removeAll { p in doomed.contains(p.name) }
        default:
            throw .error("'\(a.spec.name)' is not implemented", at: a.command.location)
        }
    }

    private mutating func runtimeRule(_ a: Args, _ state: inout DynamicState) throws(Diagnostic) {
        switch a.spec.verb {
        case "add":
            var rule = try dynamicRule(a, state: &state)
            if state.rules.contains(where: { $0.sameIdentity(as: rule) }) {
                throw .error(
                    "a dynamic rule with the same filter already exists; use 'dynamic set rule' to change it",
                    at: a.command.location)
            }
            try applyDynamicActions(a, state: state, to: &rule)
            state.rules.append(rule)
        case "set":
            let probe = try dynamicRule(a, state: &state, requirePolicy: false)
            guard let i = state.rules.firstIndex(where: { $0.sameIdentity(as: probe) }) else {
                throw .error("no dynamic rule matches these filter fields", at: a.command.location)
            }
            try applyDynamicActions(a, state: state, to: &state.rules[i])
        case "delete":
            let probe = try dynamicRule(a, state: &state, requirePolicy: false)
            let before = state.rules.count
            state.rules.removeAll { $0.sameIdentity(as: probe) }
            if before == state.rules.count {
                warn("no dynamic rule matches these filter fields; nothing deleted", at: a.command.location)
            }
        default:
            throw .error("'\(a.spec.name)' is not implemented", at: a.command.location)
        }
    }

    private func applyMainMode(_ a: Args, to p: inout DynamicState.MainModePolicy) throws(Diagnostic) {
        if let v = try a.int("qmpermm", 0...Int(Int32.max)) { p.qmpermm = v }
        if let v = try a.int("mmlifetime", 1...Int(Int32.max)) { p.mmlifetime = v }
        if let v = try a.int("softsaexpirationtime", 0...Int(Int32.max)) { p.softSAExpirationTime = v }
        if let v = try a.value("mmsecmethods", Values.mainModeOffers) { p.mmsecmethods = v }
    }

    private func applyQuickMode(_ a: Args, to p: inout DynamicState.QuickModePolicy) throws(Diagnostic) {
        if let v = try a.bool("soft") { p.soft = v }
        if let v = try a.value(
            "pfsgroup", { Values.choice($0, ["GRP1", "GRP2", "GRP3", "GRPMM", "NOPFS"].map { ($0, $0) }) })
        {
            p.pfsGroup = v
        }
        if let v = try a.value("qmsecmethods", Values.quickModeOffers) { p.qmsecmethods = v }
    }

    private mutating func dynamicRule(
        _ a: Args, state: inout DynamicState, requirePolicy: Bool = true
    ) throws(Diagnostic) -> DynamicState.Rule {
        var builder = FilterBuilder()
        let filter = try builder.build(a, seq: 0)
        diagnostics += builder.warnings
        for side in ["srcaddr", "dstaddr"] {
            if let arg = a.argument(side), arg.value.lowercased().hasPrefix("group:") {
                throw .error(
                    "address groups live in a store; dynamic rules cannot use them (use a static filter)",
                    at: arg.location)
            }
        }
        var mm = ""
        if requirePolicy {
            let arg = try a.required("mmpolicy")
            guard let p = state.mainModePolicies.first(where: { $0.name.caseInsensitiveEquals(arg.value) }) else {
                throw .error(
                    "no main mode policy named '\(arg.value)'"
                        + suggestion(for: arg.value, among: state.mainModePolicies.map(\.name)), at: arg.location)
            }
            mm = p.name
        }
        var rule = DynamicState.Rule(seq: 0, filter: filter, mmpolicy: mm, inbound: .negotiate, outbound: .negotiate)
        if let v = try a.value("conntype", { Values.choice($0, ConnectionType.allCases.map { ($0.rawValue, $0) }) }) {
            rule.connectionType = v
        }
        if let t = a.argument("tunneldstaddress") {
            switch Values.address(t.value) {
            case .success((let spec, _)): rule.tunnelDestination = spec
            case .failure(let e): throw .error("tunneldstaddress: \(e.message)", at: t.location)
            }
        }
        if requirePolicy {
            state.sequence += 1
            rule.seq = state.sequence
            rule.filter.seq = state.sequence
        }
        return rule
    }

    private func applyDynamicActions(
        _ a: Args, state: DynamicState, to rule: inout DynamicState.Rule
    ) throws(Diagnostic) {
        let kinds = FilterActionKind.allCases.map { ($0.rawValue, $0) }
        if let v = try a.value("actioninbound", { Values.choice($0, kinds) }) { rule.inbound = v }
        if let v = try a.value("actionoutbound", { Values.choice($0, kinds) }) { rule.outbound = v }
        if let arg = a.argument("mmpolicy") {
            guard let p = state.mainModePolicies.first(where: { $0.name.caseInsensitiveEquals(arg.value) }) else {
                throw .error(
                    "no main mode policy named '\(arg.value)'"
                        + suggestion(for: arg.value, among: state.mainModePolicies.map(\.name)), at: arg.location)
            }
            rule.mmpolicy = p.name
        }
        if let arg = a.argument("qmpolicy") {
            guard let p = state.quickModePolicies.first(where: { $0.name.caseInsensitiveEquals(arg.value) }) else {
                throw .error(
                    "no quick mode policy named '\(arg.value)'"
                        + suggestion(for: arg.value, among: state.quickModePolicies.map(\.name)), at: arg.location)
            }
            rule.qmpolicy = p.name
        }
        if let v = try a.authMethods() { rule.authMethods = v }
    }

    /// `set config [property=]name [value=]value`, both positional and tagged.
    private mutating func setConfig(_ a: Args) throws(Diagnostic) {
        let propertyArg = try a.required("property")
        let valueArg = try a.required("value")
        let properties = [
            "ipsecdiagnostics", "ikelogging", "strongcrlcheck", "ipsecloginterval", "ipsecexempt", "bootmode",
            "bootexemptions"
        ]
        let property: String
        switch KeywordMatch(propertyArg.value, in: properties) {
        case .found(let p): property = p
        case .ambiguous(let c):
            throw .error(
                "property '\(propertyArg.value)' is ambiguous: it could be \(c.joined(separator: ", "))",
                at: propertyArg.location)
        case .none:
            throw .error(
                "unknown property '\(propertyArg.value)'; expected one of: \(properties.joined(separator: ", "))",
                at: propertyArg.location)
        }
        func check<T>(_ r: Result<T, ValueError>) throws(Diagnostic) -> T {
            switch r {
            case .success(let v): return v
            case .failure(let e): throw .error("\(property): \(e.message)", at: valueArg.location)
            }
        }
        let v = valueArg.value
        switch property {
        case "ipsecdiagnostics": store.config.ipsecDiagnostics = try check(Values.integer(v, in: 0...7))
        case "ikelogging": store.config.ikeLogging = try check(Values.integer(v, in: 0...1))
        case "strongcrlcheck": store.config.strongCRLCheck = try check(Values.integer(v, in: 0...2))
        case "ipsecloginterval": store.config.ipsecLogInterval = try check(Values.integer(v, in: 60...86400))
        case "ipsecexempt": store.config.ipsecExempt = try check(Values.integer(v, in: 0...3))
        case "bootmode":
            store.config.bootMode = try check(
                Values.choice(v, DynamicConfig.BootMode.allCases.map { ($0.rawValue, $0) }))
        default: store.config.bootExemptions = try check(Values.bootExemptions(v))
        }
    }
}
