/// `static show …`: selects objects of the current store; rendering happens at the edge.
extension Interpreter {
    mutating func show(_ a: Args) throws(Diagnostic) {
        var out = ShowObjects(location: location)
        out.verbose = try a.value("level") { Values.choice($0, [("verbose", true), ("normal", false)]) } ?? false
        _ = try a.value("format") { Values.choice($0, [("list", 0), ("table", 1)]) }
        _ = try a.bool("wide")
        _ = try a.bool("resolvedns")
        let selectsAll = !a.has("name") || a.isAll("name")
        switch a.spec.noun {
        case "all":
            out.policies = current.policies
            out.filterLists = current.filterLists
            out.filterActions = current.filterActions
            out.addressGroups = current.addressGroups
            out.schedules = current.schedules
            out.verbose = true
        case "policy":
            out.policies = selectsAll ? current.policies : [current.policies[try policyIndex(try a.required("name"))]]
        case "filterlist":
            if let r = a.argument("rule") {
                out.filterLists = try rulesNamed(r).map { current.filterLists[current.filterListIndex($0.filterList)!] }
            } else {
                out.filterLists =
                    selectsAll
                    ? current.filterLists : [current.filterLists[try filterListIndex(try a.required("name"))]]
            }
        case "filteraction":
            if let r = a.argument("rule") {
                out.filterActions = try rulesNamed(r).map {
                    current.filterActions[current.filterActionIndex($0.filterAction)!]
                }
            } else {
                out.filterActions =
                    selectsAll
                    ? current.filterActions : [current.filterActions[try filterActionIndex(try a.required("name"))]]
            }
        case "rule":
            out.policies = try policiesWithRules(a, selectsAll: selectsAll)
        case "schedule":
            out.schedules =
                selectsAll ? current.schedules : [current.schedules[try scheduleIndex(try a.required("name"))]]
        case "addressgroup":
            out.addressGroups =
                selectsAll
                ? current.addressGroups : [current.addressGroups[try addressGroupIndex(try a.required("name"))]]
        case "store":
            emit(.storeLocation(location))
            return
        case "gpoassignedpolicy":
            throw .error(
                "there are no group policy objects: rampart manages the local and persistent stores",
                at: a.command.location)
        default:
            throw .error("'\(a.spec.name)' is not implemented", at: a.command.location)
        }
        emit(.objects(out))
    }

    /// `show rule`: each policy with the rules the arguments select (`name=default`: the policy alone).
    private func policiesWithRules(_ a: Args, selectsAll: Bool) throws(Diagnostic) -> [Policy] {
        let policies =
            try a.argument("policy").map { arg throws(Diagnostic) in [current.policies[try policyIndex(arg)]] }
            ?? current.policies
        let defaultOnly = a.argument("name").map { !$0.quoted && $0.value.caseInsensitiveEquals("default") } ?? false
        let type = try a.value("type") { Values.choice($0, [("tunnel", true), ("transport", false)]) }
        var out: [Policy] = []
        for var policy in policies {
            if defaultOnly {
                policy.rules = []
            } else if let idArg = a.argument("id") {
                policy.rules = policy.rules.filter { String($0.id) == idArg.value }
            } else if !selectsAll, let n = a.argument("name") {
                policy.rules = policy.rules.filter { $0.name.caseInsensitiveEquals(n.value) }
            }
            if let type { policy.rules = policy.rules.filter { ($0.tunnel != nil) == type } }
            if !policy.rules.isEmpty || defaultOnly { out.append(policy) }
        }
        if out.isEmpty, !selectsAll || a.has("id") {
            let what = a.argument("id") ?? a.argument("name")!
            throw .error("no rule '\(what.value)'", at: what.location)
        }
        return out
    }

    private func rulesNamed(_ arg: CommandArgument) throws(Diagnostic) -> [Rule] {
        let rules = current.policies.flatMap(\.rules).filter { $0.name.caseInsensitiveEquals(arg.value) }
        guard !rules.isEmpty else {
            throw .error(
                "no rule named '\(arg.value)'"
                    + suggestion(for: arg.value, among: current.policies.flatMap(\.rules).map(\.name)), at: arg.location
            )
        }
        return rules
    }
}
