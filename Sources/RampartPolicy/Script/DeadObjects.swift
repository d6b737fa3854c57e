/// The warnings a transaction ends with about what it made or changed that filters nothing
/// (rampart(8), "Objects no rule uses"): a filter list or filter action no rule uses — with the
/// name in use it is likely a typo of — and the rules of a policy that is not assigned. Objects
/// the transaction did not touch are not repeated every time.
enum DeadObjects {
    static func warnings(before: Store, after: Store) -> [Diagnostic] {
        StoreLocation.allCases.flatMap { location in
            warnings(before: before[location], after: after[location], location: location)
        }
    }

    static func warnings(before: PolicyStore, after: PolicyStore, location: StoreLocation) -> [Diagnostic] {
        let rules = after.policies.flatMap(\.rules)
        let usedLists = rules.map(\.filterList).filter { !$0.isEmpty }
        let usedActions = rules.map(\.filterAction).filter { !$0.isEmpty }
        let wasUsed = Set(
            before.policies.flatMap(\.rules).flatMap { [$0.filterList.lowercased(), $0.filterAction.lowercased()] })
        let place = location == .local ? "" : " (persistent store)"
        var out: [Diagnostic] = []
        for list in after.filterLists where !usedLists.contains(where: { $0.lowercased() == list.name.lowercased() }) {
            let old = before.filterLists.first { $0.name.lowercased() == list.name.lowercased() }
            guard old != list || wasUsed.contains(list.name.lowercased()) else { continue }
            out.append(
                .warning(
                    "filter list '\(list.name)'\(place) is used by no rule: its filters filter nothing\(suggestion(for: list.name, among: usedLists)) (add a rule with filterlist=\"\(list.name)\", or delete it)",
                    at: nil))
        }
        for action in after.filterActions
        where !usedActions.contains(where: { $0.lowercased() == action.name.lowercased() }) {
            let old = before.filterActions.first { $0.name.lowercased() == action.name.lowercased() }
            guard old != action || wasUsed.contains(action.name.lowercased()) else { continue }
            out.append(
                .warning(
                    "filter action '\(action.name)'\(place) is used by no rule\(suggestion(for: action.name, among: usedActions)) (add a rule with filteraction=\"\(action.name)\", or delete it)",
                    at: nil))
        }
        for policy in after.policies where !policy.assigned && !policy.rules.isEmpty {
            guard before.policies.first(where: { $0.name.lowercased() == policy.name.lowercased() }) != policy else {
                continue
            }
            out.append(
                .warning(
                    "policy '\(policy.name)'\(place) is not assigned: its rules filter nothing (assign it with 'set policy name=\"\(policy.name)\" assign=yes')",
                    at: nil))
        }
        return out
    }
}
