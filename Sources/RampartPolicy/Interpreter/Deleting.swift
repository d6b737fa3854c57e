extension Interpreter {
    /// netsh's delete of named objects, for every kind: `name=all` takes them all; a name that is
    /// not there is a warning and the script goes on; one that something uses is refused with
    /// `inUse`'s sentence (which says what to change first). The names to remove, as stored.
    mutating func namesToDelete(
        _ a: Args, kind: String, among names: [String], inUse: (String) -> String? = { _ in nil }
    ) throws(Diagnostic) -> [String] {
        let arg = try a.required("name")
        let targets: [String]
        if a.isAll("name") {
            targets = names
        } else if let name = names.first(where: { $0.caseInsensitiveEquals(arg.value) }) {
            targets = [name]
        } else {
            warn("no \(kind) named '\(arg.value)' to delete", at: arg.location)
            return []
        }
        for name in targets {
            if let refusal = inUse(name) { throw .error(refusal, at: arg.location) }
        }
        return targets
    }
}
