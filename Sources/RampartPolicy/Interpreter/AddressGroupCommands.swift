/// `static add|set|delete addressgroup` (an extension, docs/extensions.md). A group belongs to
/// the current store; filters of that store refer to it as `group:NAME`.
extension Interpreter {
    func addressGroupIndex(_ arg: CommandArgument) throws(Diagnostic) -> Int {
        guard let i = current.addressGroupIndex(arg.value) else {
            throw .error(
                "no address group named '\(arg.value)' in the \(location) store"
                    + suggestion(for: arg.value, among: current.addressGroups.map(\.name)), at: arg.location)
        }
        return i
    }

    func groupName(_ arg: CommandArgument) throws(Diagnostic) -> String {
        guard AddressGroup.validName(arg.value) else {
            throw .error(
                "'\(arg.value)' is not an address group name: letters, digits, _ and -, starting with a letter, at most 64",
                at: arg.location)
        }
        return arg.value
    }

    func members(_ arg: CommandArgument) throws(Diagnostic) -> [AddressRange] {
        switch AddressGroup.parseMembers(arg.value) {
        case .success(let m): return m
        case .failure(let e): throw .error("\(arg.tag ?? "addresses"): \(e.message)", at: arg.location)
        }
    }

    /// A filter may name only groups of its own store.
    func checkGroups(_ filter: Filter, _ a: Args) throws(Diagnostic) {
        for (side, spec) in [("srcaddr", filter.source), ("dstaddr", filter.destination)] {
            guard case .group(let name) = spec else { continue }
            if current.addressGroupIndex(name) == nil {
                throw .error(
                    "no address group named '\(name)' in the \(location) store; add it first with 'add addressgroup name=\(name) addresses=…'"
                        + suggestion(for: name, among: current.addressGroups.map(\.name)),
                    at: a.argument(side)?.location)
            }
        }
    }

    mutating func addAddressGroup(_ a: Args) throws(Diagnostic) {
        let nameArg = try a.required("name")
        let name = try groupName(nameArg)
        if current.addressGroupIndex(name) != nil {
            throw .error("address group '\(name)' already exists in the \(location) store", at: nameArg.location)
        }
        let list = try members(try a.required("addresses"))
        current.addressGroups.append(
            AddressGroup(
                name: name, description: a.string("description") ?? "", members: list, seq: store.nextSequence()))
    }

    /// `addresses=` replaces the members; `add=` and `remove=` change them one by one (a removed
    /// address must be a member as written).
    mutating func setAddressGroup(_ a: Args) throws(Diagnostic) {
        let i = try addressGroupIndex(try a.required("name"))
        var group = current.addressGroups[i]
        if let arg = a.argument("newname") {
            let name = try groupName(arg)
            if let j = current.addressGroupIndex(name), j != i {
                throw .error("address group '\(name)' already exists in the \(location) store", at: arg.location)
            }
            if !current.filters(usingGroup: group.name).isEmpty && !name.caseInsensitiveEquals(group.name) {
                // Filters name the group; renaming follows them.
                for l in current.filterLists.indices {
                    for f in current.filterLists[l].filters.indices {
                        if case .group(let g) = current.filterLists[l].filters[f].source,
                            g.caseInsensitiveEquals(group.name)
                        {
                            current.filterLists[l].filters[f].source = .group(name)
                        }
                        if case .group(let g) = current.filterLists[l].filters[f].destination,
                            g.caseInsensitiveEquals(group.name)
                        {
                            current.filterLists[l].filters[f].destination = .group(name)
                        }
                    }
                }
            }
            group.name = name
        }
        if let arg = a.argument("addresses") { group.members = try members(arg) }
        if let arg = a.argument("add") {
            for m in try members(arg) where !group.members.contains(m) { group.members.append(m) }
        }
        if let arg = a.argument("remove") {
            for m in try members(arg) {
                guard let k = group.members.firstIndex(of: m) else {
                    throw .error("\(m) is not a member of address group '\(group.name)'", at: arg.location)
                }
                group.members.remove(at: k)
            }
            if group.members.isEmpty {
                throw .error("address group '\(group.name)' would be empty; delete it instead", at: arg.location)
            }
        }
        if group.members.count > AddressGroup.maximumMembers {
            throw .error(
                "address group '\(group.name)' would hold \(group.members.count) addresses; at most \(AddressGroup.maximumMembers)",
                at: a.command.location)
        }
        if let d = a.string("description") { group.description = d }
        current.addressGroups[i] = group
    }

    mutating func deleteAddressGroup(_ a: Args) throws(Diagnostic) {
        let store = current
        let doomed = try namesToDelete(a, kind: "address group", among: current.addressGroups.map(\.name)) { name in
            store.filters(usingGroup: name).first.map {
                "address group '\(name)' is used by a filter of filter list \($0); delete that filter first"
            }
        }
        current.addressGroups.removeAll { doomed.contains($0.name) }
    }
}
