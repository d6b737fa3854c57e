import FoundationEssentials

/// `netsh ipsec static …` (reference §4). Delete cascade (rampart's choice, see docs/netsh-compatibility.md):
/// deleting a policy deletes its rules; a filter list or filter action still used by a rule cannot be deleted.
extension Interpreter {
    mutating func executeStatic(_ a: Args) throws(Diagnostic) {
        switch (a.spec.verb, a.spec.noun) {
        case ("add", "policy"): try addPolicy(a)
        case ("set", "policy"): try setPolicy(a)
        case ("delete", "policy"): try deletePolicy(a)
        case ("add", "filterlist"): try addFilterList(a)
        case ("set", "filterlist"): try setFilterList(a)
        case ("delete", "filterlist"): try deleteFilterList(a)
        case ("add", "filter"): try addFilter(a)
        case ("delete", "filter"): try deleteFilter(a)
        case ("add", "filteraction"): try addFilterAction(a)
        case ("set", "filteraction"): try setFilterAction(a)
        case ("delete", "filteraction"): try deleteFilterAction(a)
        case ("add", "rule"): try addRule(a)
        case ("set", "rule"): try setRule(a)
        case ("delete", "rule"): try deleteRule(a)
        case ("set", "defaultrule"): try setDefaultRule(a)
        case ("add", "addressgroup"): try addAddressGroup(a)
        case ("set", "addressgroup"): try setAddressGroup(a)
        case ("delete", "addressgroup"): try deleteAddressGroup(a)
        case ("add", "schedule"): try addSchedule(a)
        case ("set", "schedule"): try setSchedule(a)
        case ("delete", "schedule"): try deleteSchedule(a)
        case ("delete", "all"): current = PolicyStore()
        case ("set", "store"): try setStore(a)
        case ("set", "batch"):
            _ = try a.value("mode") { Values.choice($0, [("enable", true), ("disable", false)]) }
            diagnostics.append(
                .init(
                    .note,
                    "set batch is accepted and has no effect: rampart always applies a script as one transaction",
                    at: a.command.location))
        case ("show", _): try show(a)
        case ("exportpolicy", nil): try exportPolicy(a)
        case ("importpolicy", nil): try importPolicy(a)
        case ("dump", nil): emit(.text(ScriptWriter.dump(store)))
        default: throw .error("'\(a.spec.name)' is not implemented", at: a.command.location)
        }
    }

    // MARK: lookups with suggestions

    func policyIndex(_ arg: CommandArgument) throws(Diagnostic) -> Int {
        guard let i = current.policyIndex(arg.value) else {
            throw .error(
                "no policy named '\(arg.value)' in the \(location) store"
                    + suggestion(for: arg.value, among: current.policies.map(\.name)), at: arg.location)
        }
        return i
    }

    func policyIndex(_ a: Args) throws(Diagnostic) -> Int {
        if let guid = a.argument("guid") {
            guard let i = current.policies.firstIndex(where: { $0.guid.caseInsensitiveEquals(guid.value) }) else {
                throw .error("no policy with guid \(guid.value)", at: guid.location)
            }
            return i
        }
        return try policyIndex(try a.required("name"))
    }

    func filterListIndex(_ arg: CommandArgument) throws(Diagnostic) -> Int {
        guard let i = current.filterListIndex(arg.value) else {
            throw .error(
                "no filter list named '\(arg.value)' in the \(location) store"
                    + suggestion(for: arg.value, among: current.filterLists.map(\.name)), at: arg.location)
        }
        return i
    }

    func filterActionIndex(_ arg: CommandArgument) throws(Diagnostic) -> Int {
        guard let i = current.filterActionIndex(arg.value) else {
            throw .error(
                "no filter action named '\(arg.value)' in the \(location) store"
                    + suggestion(for: arg.value, among: current.filterActions.map(\.name)), at: arg.location)
        }
        return i
    }

    // MARK: policies

    mutating func addPolicy(_ a: Args) throws(Diagnostic) {
        let name = try a.newName("name")
        if current.policyIndex(name) != nil {
            throw .error("policy '\(name)' already exists in the \(location) store", at: a.argument("name")!.location)
        }
        var policy = Policy(name: name, guid: makeGUID(), seq: store.nextSequence())
        try applyPolicyFields(a, to: &policy)
        if policy.assigned { unassignOthers(than: name, at: a.argument("assign")?.location) }
        current.policies.append(policy)
    }

    mutating func setPolicy(_ a: Args) throws(Diagnostic) {
        let index = try policyIndex(a)
        var policy = current.policies[index]
        if let newName = try a.objectName("newname") {
            if let other = current.policyIndex(newName), other != index {
                throw .error("policy '\(newName)' already exists", at: a.argument("newname")!.location)
            }
            policy.name = newName
        }
        if let gpo = a.argument("gponame") {
            warn("gponame ignored: it applies to the domain store, which rampart does not manage", at: gpo.location)
        }
        try applyPolicyFields(a, to: &policy)
        current.policies[index] = policy
        if policy.assigned { unassignOthers(than: policy.name, at: a.argument("assign")?.location) }
    }

    mutating func applyPolicyFields(_ a: Args, to policy: inout Policy) throws(Diagnostic) {
        if let d = a.string("description") { policy.description = d }
        if let v = try a.bool("mmpfs") { policy.mmpfs = v }
        if let v = try a.int("qmpermm", 0...Int(Int32.max)) { policy.qmpermm = v }
        if let v = try a.int("mmlifetime", 1...Int(Int32.max)) { policy.mmlifetime = v }
        if let v = try a.bool("activatedefaultrule") { policy.defaultRule.active = v }
        if let v = try a.int("pollinginterval", 0...Int(Int32.max)) { policy.pollingInterval = v }
        if let v = try a.bool("assign") { policy.assigned = v }
        if let v = try a.value("mmsecmethods", Values.mainModeOffers) { policy.mmsecmethods = v }
    }

    /// One assigned policy per store: assigning one unassigns the others, as Windows does.
    mutating func unassignOthers(than name: String, at location: SourceLocation?) {
        for i in current.policies.indices
        where current.policies[i].assigned && !current.policies[i].name.caseInsensitiveEquals(name) {
            current.policies[i].assigned = false
            diagnostics.append(
                .init(
                    .note, "policy '\(current.policies[i].name)' is no longer assigned (one assigned policy per store)",
                    at: location))
        }
    }

    mutating func deletePolicy(_ a: Args) throws(Diagnostic) {
        let doomed = try namesToDelete(a, kind: "policy", among: current.policies.map(\.name))
        current.policies.removeAll { doomed.contains($0.name) }
    }

    // MARK: filter lists and filters

    mutating func addFilterList(_ a: Args) throws(Diagnostic) {
        let name = try a.newName("name")
        if current.filterListIndex(name) != nil {
            throw .error(
                "filter list '\(name)' already exists in the \(location) store", at: a.argument("name")!.location)
        }
        current.filterLists.append(
            FilterList(
                name: name, description: a.string("description") ?? "", guid: makeGUID(), seq: store.nextSequence()))
    }

    mutating func setFilterList(_ a: Args) throws(Diagnostic) {
        let index: Int
        if let guid = a.argument("guid") {
            guard let i = current.filterLists.firstIndex(where: { $0.guid.caseInsensitiveEquals(guid.value) }) else {
                throw .error("no filter list with guid \(guid.value)", at: guid.location)
            }
            index = i
        } else {
            index = try filterListIndex(try a.required("name"))
        }
        if let newName = try a.objectName("newname") {
            if let other = current.filterListIndex(newName), other != index {
                throw .error("filter list '\(newName)' already exists", at: a.argument("newname")!.location)
            }
            let old = current.filterLists[index].name
            current.filterLists[index].name = newName
            renameReferences { rule in
                if rule.filterList.caseInsensitiveEquals(old) { rule.filterList = newName }
            }
        }
        if let d = a.string("description") { current.filterLists[index].description = d }
    }

    mutating func renameReferences(_ update: (inout Rule) -> Void) {
        for p in current.policies.indices {
            for r in current.policies[p].rules.indices { update(&current.policies[p].rules[r]) }
        }
    }

    mutating func deleteFilterList(_ a: Args) throws(Diagnostic) {
        let store = current
        let doomed = try namesToDelete(a, kind: "filter list", among: current.filterLists.map(\.name)) { name in
            store.rules(usingFilterList: name).first.map {
                "filter list '\(name)' is used by rule '\($0.rule)' of policy '\($0.policy)'; delete or change that rule first"
            }
        }
        current.filterLists.removeAll { doomed.contains($0.name) }
    }

    mutating func addFilter(_ a: Args) throws(Diagnostic) {
        let listArg = try a.required("filterlist")
        var builder = FilterBuilder()
        let filter = try builder.build(a, seq: 0)
        diagnostics += builder.warnings
        try checkGroups(filter, a)
        let index: Int
        if let i = current.filterListIndex(listArg.value) {
            index = i
        } else {
            guard !listArg.value.trimmingBlanks.isEmpty, !listArg.value.caseInsensitiveEquals("all") else {
                throw .error("invalid filter list name '\(listArg.value)'", at: listArg.location)
            }
            current.filterLists.append(FilterList(name: listArg.value, guid: makeGUID(), seq: store.nextSequence()))
            index = current.filterLists.count - 1
        }
        var stored = filter
        stored.seq = reusedID(for: filter, listIndex: index) ?? store.nextSequence()
        listSeqs[FilterIdentity.listKey(location, current.filterLists[index].name)]?.insert(stored.seq)
        let cacheKey = current.filterLists[index].name.lowercased()
        var keys = filterKeys.removeValue(forKey: cacheKey) ?? Set(current.filterLists[index].filters.map(\.matchKey))
        if !keys.insert(stored.matchKey).inserted {
            warn(
                "identical filter already in filter list '\(current.filterLists[index].name)'; both are kept",
                at: a.command.location)
        }
        filterKeys[cacheKey] = keys
        current.filterLists[index].filters.append(stored)
    }

    /// The number a filter deleted from this list earlier (with the same match) had, when no
    /// filter of the list has it now (`FilterIdentity`).
    mutating func reusedID(for filter: Filter, listIndex index: Int) -> Int? {
        let name = current.filterLists[index].name
        let key = FilterIdentity.listKey(location, name)
        if reusableIDs[key] == nil {
            reusableIDs[key] = FilterIdentity.known(in: initialStore, location: location, list: name)
        }
        let content = FilterIdentity.contentKey(filter)
        guard var candidates = reusableIDs[key]?[content], !candidates.isEmpty else { return nil }
        let taken = listSeqs[key] ?? Set(current.filterLists[index].filters.map(\.seq))
        listSeqs[key] = taken
        guard let i = candidates.firstIndex(where: { !taken.contains($0) }) else { return nil }
        let n = candidates.remove(at: i)
        reusableIDs[key]?[content] = candidates
        return n
    }

    mutating func deleteFilter(_ a: Args) throws(Diagnostic) {
        let listArg = try a.required("filterlist")
        var builder = FilterBuilder()
        let probe = try builder.build(a, seq: 0)
        diagnostics += builder.warnings
        guard let index = current.filterListIndex(listArg.value) else {
            warn("no filter list named '\(listArg.value)'; no filter deleted", at: listArg.location)
            return
        }
        let before = current.filterLists[index].filters.count
        current.filterLists[index].filters.removeAll { $0.sameMatch(as: probe) }
        let removed = before - current.filterLists[index].filters.count
        if removed == 0 {
            warn(
                "no matching filter in filter list '\(current.filterLists[index].name)' to delete",
                at: a.command.location)
        } else if removed > 1 {
            diagnostics.append(.init(.note, "deleted \(removed) identical filters", at: a.command.location))
        }
    }

    // MARK: filter actions

    mutating func addFilterAction(_ a: Args) throws(Diagnostic) {
        let name = try a.newName("name")
        if current.filterActionIndex(name) != nil {
            throw .error(
                "filter action '\(name)' already exists in the \(location) store", at: a.argument("name")!.location)
        }
        var action = FilterAction(name: name, guid: makeGUID(), seq: store.nextSequence(), action: .negotiate)
        try applyFilterActionFields(a, to: &action)
        current.filterActions.append(action)
    }

    mutating func setFilterAction(_ a: Args) throws(Diagnostic) {
        let index: Int
        if let guid = a.argument("guid") {
            guard let i = current.filterActions.firstIndex(where: { $0.guid.caseInsensitiveEquals(guid.value) }) else {
                throw .error("no filter action with guid \(guid.value)", at: guid.location)
            }
            index = i
        } else {
            index = try filterActionIndex(try a.required("name"))
        }
        var action = current.filterActions[index]
        if let newName = try a.objectName("newname") {
            if let other = current.filterActionIndex(newName), other != index {
                throw .error("filter action '\(newName)' already exists", at: a.argument("newname")!.location)
            }
            let old = action.name
            action.name = newName
            renameReferences { rule in
                if rule.filterAction.caseInsensitiveEquals(old) { rule.filterAction = newName }
            }
        }
        try applyFilterActionFields(a, to: &action)
        current.filterActions[index] = action
    }

    mutating func applyFilterActionFields(_ a: Args, to action: inout FilterAction) throws(Diagnostic) {
        if let d = a.string("description") { action.description = d }
        if let v = try a.bool("qmpfs") { action.qmpfs = v }
        if let v = try a.bool("inpass") { action.inpass = v }
        if let v = try a.bool("soft") { action.soft = v }
        if let v = try a.value("action", { Values.choice($0, FilterActionKind.allCases.map { ($0.rawValue, $0) }) }) {
            action.action = v
        }
        if let v = try a.value("qmsecmethods", Values.quickModeOffers) {
            action.qmsecmethods = v
            if action.action != .negotiate {
                warn(
                    "qmsecmethods are stored but have no effect unless action=negotiate",
                    at: a.argument("qmsecmethods")!.location)
            }
        }
    }

    mutating func deleteFilterAction(_ a: Args) throws(Diagnostic) {
        let store = current
        let doomed = try namesToDelete(a, kind: "filter action", among: current.filterActions.map(\.name)) { name in
            store.rules(usingFilterAction: name).first.map {
                "filter action '\(name)' is used by rule '\($0.rule)' of policy '\($0.policy)'; delete or change that rule first"
            }
        }
        current.filterActions.removeAll { doomed.contains($0.name) }
    }

    // MARK: rules

    mutating func addRule(_ a: Args) throws(Diagnostic) {
        let name = try a.newName("name")
        let p = try policyIndex(try a.required("policy"))
        let list = current.filterLists[try filterListIndex(try a.required("filterlist"))].name
        let action = current.filterActions[try filterActionIndex(try a.required("filteraction"))].name
        if current.policies[p].rules.contains(where: { $0.name.caseInsensitiveEquals(name) }) {
            throw .error(
                "policy '\(current.policies[p].name)' already has a rule named '\(name)'",
                at: a.argument("name")!.location)
        }
        var rule = Rule(
            id: current.policies[p].nextRuleID, name: name, seq: store.nextSequence(), filterList: list,
            filterAction: action)
        current.policies[p].nextRuleID += 1
        try applyRuleFields(a, to: &rule)
        current.policies[p].rules.append(rule)
    }

    mutating func applyRuleFields(_ a: Args, to rule: inout Rule) throws(Diagnostic) {
        if let d = a.string("description") { rule.description = d }
        if let t = a.argument("tunnel") {
            switch Values.address(t.value) {
            case .success((let spec, _)):
                switch spec {
                case .subnet(let ip, let p) where p == ip.family.bits: rule.tunnel = spec
                case .dnsName: rule.tunnel = spec
                default: throw .error("tunnel: expected one IP address or DNS name, found '\(t.value)'", at: t.location)
                }
            case .failure(let e): throw .error("tunnel: \(e.message)", at: t.location)
            }
        }
        if let v = try a.value("conntype", { Values.choice($0, ConnectionType.allCases.map { ($0.rawValue, $0) }) }) {
            rule.connectionType = v
        }
        if let v = try a.bool("activate") { rule.active = v }
        if let v = try a.authMethods() { rule.authMethods = v }
        if case .some(let schedule) = try ruleSchedule(a) { rule.schedule = schedule }
    }

    func ruleIndex(_ a: Args, policy p: Int) throws(Diagnostic) -> Int? {
        let policy = current.policies[p]
        if let idArg = a.argument("id") {
            guard let id = Int(idArg.value) else {
                throw .error("id: '\(idArg.value)' is not a rule number", at: idArg.location)
            }
            return policy.rules.firstIndex { $0.id == id }
        }
        let n = try a.required("name")
        return policy.rules.firstIndex { $0.name.caseInsensitiveEquals(n.value) }
    }

    mutating func setRule(_ a: Args) throws(Diagnostic) {
        let p = try policyIndex(try a.required("policy"))
        guard let r = try ruleIndex(a, policy: p) else {
            let what = a.argument("id") ?? a.argument("name")!
            throw .error(
                "policy '\(current.policies[p].name)' has no rule '\(what.value)'"
                    + suggestion(for: what.value, among: current.policies[p].rules.map(\.name)), at: what.location)
        }
        var rule = current.policies[p].rules[r]
        if let newName = try a.objectName("newname") {
            if let other = current.policies[p].rules.firstIndex(where: { $0.name.caseInsensitiveEquals(newName) }),
                other != r
            {
                throw .error(
                    "policy '\(current.policies[p].name)' already has a rule named '\(newName)'",
                    at: a.argument("newname")!.location)
            }
            rule.name = newName
        }
        if let l = a.argument("filterlist") { rule.filterList = current.filterLists[try filterListIndex(l)].name }
        if let f = a.argument("filteraction") {
            rule.filterAction = current.filterActions[try filterActionIndex(f)].name
        }
        try applyRuleFields(a, to: &rule)
        current.policies[p].rules[r] = rule
    }

    mutating func deleteRule(_ a: Args) throws(Diagnostic) {
        let policyArg = try a.required("policy")
        guard let p = current.policyIndex(policyArg.value) else {
            warn("no policy named '\(policyArg.value)'; no rule deleted", at: policyArg.location)
            return
        }
        if a.isAll("name") {
            current.policies[p].rules.removeAll()
            return
        }
        guard let r = try ruleIndex(a, policy: p) else {
            let what = a.argument("id") ?? a.argument("name")!
            warn("policy '\(current.policies[p].name)' has no rule '\(what.value)' to delete", at: what.location)
            return
        }
        current.policies[p].rules.remove(at: r)
    }

    mutating func setDefaultRule(_ a: Args) throws(Diagnostic) {
        let p = try policyIndex(try a.required("policy"))
        var rule = current.policies[p].defaultRule
        if let v = try a.bool("qmpfs") { rule.qmpfs = v }
        if let v = try a.bool("activate") { rule.active = v }
        if let v = try a.value("qmsecmethods", Values.quickModeOffers) { rule.qmsecmethods = v }
        if let v = try a.authMethods() { rule.authMethods = v }
        current.policies[p].defaultRule = rule
    }

    // MARK: store, export, import

    mutating func setStore(_ a: Args) throws(Diagnostic) {
        let arg = try a.required("location")
        switch arg.value.lowercased() {
        case "local": location = .local
        case "persistent": location = .persistent
        case "domain":
            throw .error(
                "the domain store needs Active Directory; rampart manages the local and persistent stores",
                at: arg.location)
        default:
            throw .error("location: '\(arg.value)' is not one of local, persistent, domain", at: arg.location)
        }
        if let d = a.argument("domain") {
            throw .error("domain= applies only to location=domain", at: d.location)
        }
    }

    /// A relative path resolves against the folder a batch file changed to, else the caller's.
    func resolve(_ argument: CommandArgument, of command: ParsedCommand) throws(Diagnostic) -> String {
        let path = argument.value
        if path.hasPrefix("/") { return path }
        var base = workingDirectory
        switch command.directory {
        case .path(let directory)?:
            base = directory.hasPrefix("/") ? directory : (base.hasSuffix("/") ? base : base + "/") + directory
        case .unfollowed(let target, let at)?:
            throw .error(
                "'\(path)' is relative, but the batch file changed to '\(target)' at \(at), which rampart cannot follow; use an absolute path or cd /d \"%~dp0\"",
                at: argument.location)
        case nil: break
        }
        return (base.hasSuffix("/") ? base : base + "/") + path
    }

    mutating func exportPolicy(_ a: Args) throws(Diagnostic) {
        let file = try a.required("file")
        queue(
            PendingFile(
                path: try resolve(file, of: a.command), contents: ScriptWriter.export(current, location: location)))
    }

    /// Imports an export file: its objects replace same-named ones in the current store.
    mutating func importPolicy(_ a: Args) throws(Diagnostic) {
        let file = try a.required("file")
        let imported = try readExport(file, of: a)
        var renumber: [Int: Int] = [:]
        func seq(_ old: Int) -> Int {
            if let n = renumber[old] { return n }
            let n = store.nextSequence()
            renumber[old] = n
            return n
        }
        for var schedule in imported.schedules.sorted(by: { $0.seq < $1.seq }) {
            schedule.seq = seq(schedule.seq)
            current.schedules.removeAll { $0.name.caseInsensitiveEquals(schedule.name) }
            current.schedules.append(schedule)
        }
        for var group in imported.addressGroups.sorted(by: { $0.seq < $1.seq }) {
            group.seq = seq(group.seq)
            current.addressGroups.removeAll { $0.name.caseInsensitiveEquals(group.name) }
            current.addressGroups.append(group)
        }
        for var list in imported.filterLists.sorted(by: { $0.seq < $1.seq }) {
            list.seq = seq(list.seq)
            for i in list.filters.indices { list.filters[i].seq = seq(list.filters[i].seq) }
            current.filterLists.removeAll { $0.name.caseInsensitiveEquals(list.name) }
            current.filterLists.append(list)
        }
        for var action in imported.filterActions {
            action.seq = seq(action.seq)
            current.filterActions.removeAll { $0.name.caseInsensitiveEquals(action.name) }
            current.filterActions.append(action)
        }
        for var policy in imported.policies {
            policy.seq = seq(policy.seq)
            for i in policy.rules.indices { policy.rules[i].seq = seq(policy.rules[i].seq) }
            current.policies.removeAll { $0.name.caseInsensitiveEquals(policy.name) }
            if policy.assigned { unassignOthers(than: policy.name, at: file.location) }
            current.policies.append(policy)
        }
        // Lists or actions replaced by the import must still satisfy the rules that use them.
        for policy in current.policies {
            for rule in policy.rules {
                if current.filterListIndex(rule.filterList) == nil
                    || current.filterActionIndex(rule.filterAction) == nil
                {
                    throw .error(
                        "after import, rule '\(rule.name)' of policy '\(policy.name)' refers to a missing filter list or action",
                        at: file.location)
                }
            }
        }
    }

    /// An export file's objects, made by running it against an empty store.
    private mutating func readExport(_ file: CommandArgument, of a: Args) throws(Diagnostic) -> PolicyStore {
        let path = try resolve(file, of: a.command)
        let text: String
        do {
            text = try readFile(path)
        } catch {
            throw .error("cannot read '\(file.value)': \(error)", at: file.location)
        }
        var scratch = Interpreter(
            store: Store(), workingDirectory: workingDirectory, readFile: readFile, makeGUID: makeGUID)
        try ScriptRunner.run(ScriptRunner.lines(of: text, file: file.value), in: &scratch)
        diagnostics += scratch.diagnostics
        return scratch.store.local
    }
}
