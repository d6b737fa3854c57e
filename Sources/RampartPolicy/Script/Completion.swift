/// Shell completion of the netsh words after `rampart static` or `rampart dynamic`: the verbs,
/// then the nouns, then the command's parameters as `name=`, and after `policy=`, `filterlist=`,
/// `filteraction=`, `schedule=`, `srcaddr=group:`/`dstaddr=group:` (or `name=` of a policy, filter
/// list, filter action, rule, schedule or address group) the names the
/// store holds; a name with blanks is offered in double quotes, which the shell then reads as one word.
public enum NetshCompletion {
    /// `words`: the words before the one being completed; `prefix`: what of it is typed.
    public static func candidates(
        context: CommandSpec.Context, words: [String], prefix: String, store: Store?
    ) -> [String] {
        let words = words.map { $0.lowercased() }
        let typed = prefix.lowercased()
        func matching(_ options: [String]) -> [String] { options.filter { $0.lowercased().hasPrefix(typed) } }
        guard let verb = words.first else { return matching(CommandSpec.verbs(in: context)) }
        let nouns = CommandSpec.nouns(in: context, verb: verb)
        guard words.count > 1 || nouns.isEmpty else { return matching(nouns) }
        let noun = nouns.isEmpty ? nil : words[1]
        guard let spec = CommandSpec.lookup(context: context, verb: verb, noun: noun) else { return [] }
        // zsh and fish hand over `policy=We`; bash splits at '=' (COMP_WORDBREAKS): `policy`, `=`, `We`.
        var key: String?, valuePrefix = typed, keyed = ""
        if let eq = prefix.firstIndex(of: "=") {
            key = prefix[..<eq].lowercased()
            valuePrefix = prefix[prefix.index(after: eq)...].lowercased()
            keyed = prefix[...eq] + ""
        } else if words.count >= 2, words.last == "=" {
            key = words[words.count - 2]
        }
        if let key {
            let typedName = valuePrefix.hasPrefix("\"") ? String(valuePrefix.dropFirst()) : valuePrefix
            return names(for: key, noun: noun, words: words, store: store)
                .filter { $0.lowercased().hasPrefix(typedName) }
                .map { keyed + ($0.contains(where: \.isWhitespace) ? "\"\($0)\"" : $0) }
        }
        let given = Set(
            words.dropFirst(noun == nil ? 1 : 2).compactMap {
                $0.split(separator: "=", maxSplits: 1).first.map(String.init)
            })
        return matching(spec.parameters.map(\.name).filter { !given.contains($0) }.map { $0 + "=" })
    }

    static func names(for key: String, noun: String?, words: [String], store: Store?) -> [String] {
        guard let store else { return [] }
        let stores = [store.local, store.persistent]
        switch (key, noun) {
        case ("policy", _), ("name", "policy"):
            return unique(stores.flatMap { $0.policies.map(\.name) })
        case ("filterlist", _), ("name", "filterlist"):
            return unique(stores.flatMap { $0.filterLists.map(\.name) })
        case ("filteraction", _), ("name", "filteraction"):
            return unique(stores.flatMap { $0.filterActions.map(\.name) })
        case ("schedule", _), ("name", "schedule"):
            return unique(stores.flatMap { $0.schedules.map(\.name) })
        case ("name", "addressgroup"):
            return unique(stores.flatMap { $0.addressGroups.map(\.name) })
        case ("srcaddr", _), ("dstaddr", _):
            // Address groups as `group:NAME`; other addresses are typed.
            return unique(stores.flatMap { $0.addressGroups.map { "group:" + $0.name } })
        case ("name", "rule"):
            // The rules of the policy named on the line, else of every policy.
            let policy = words.first { $0.hasPrefix("policy=") }.map {
                String($0.dropFirst("policy=".count)).filter { $0 != "\"" }
            }
            return unique(
                stores.flatMap {
                    $0.policies.filter { policy == nil || $0.name.lowercased() == policy }.flatMap {
                        $0.rules.map(\.name)
                    }
                })
        default:
            return []
        }
    }

    static func unique(_ names: [String]) -> [String] {
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }.sorted()
    }
}
