/// "The store on disk + a parsed script → what would change": the part of every change that
/// the CLI's offline path and rampartd share. Pure: the caller loads the store (under its lock),
/// and afterwards applies, journals and writes as it must; nothing here touches a file.
public struct TransactionPlan {
    /// The store the commands ran against.
    public var before: Store
    /// The runtime-only state they started from (rampartd's dynamic rules; nil offline).
    public var dynamicBefore: DynamicState?
    /// The interpreter after every command: the new store and dynamic state, outputs,
    /// diagnostics, and files `exportpolicy` wants written.
    public var result: Interpreter

    public var storeChanged: Bool { result.store != before }
    public var dynamicChanged: Bool { result.dynamic != dynamicBefore }
    public var changesAnything: Bool { storeChanged || dynamicChanged }

    /// A command failed: nothing of the script may be applied or written.
    public struct Failure: Error, CustomStringConvertible {
        public var error: Diagnostic
        /// Warnings from the commands that ran before it.
        public var diagnostics: [Diagnostic]
        public var description: String { error.description }
    }

    /// Runs `script` on a copy of `store` (and `dynamic`); files are read only through `readFile`.
    public static func make(
        _ script: ParsedScript, on store: Store, dynamic: DynamicState? = nil,
        location: StoreLocation? = nil, workingDirectory: String,
        readFile: @escaping (String) throws -> String
    ) -> Result<TransactionPlan, Failure> {
        var interpreter = Interpreter(
            store: store, dynamic: dynamic, workingDirectory: workingDirectory, readFile: readFile)
        if let location { interpreter.location = location }
        do {
            try ScriptRunner.run(script, in: &interpreter)
        } catch {
            return .failure(Failure(error: error, diagnostics: interpreter.diagnostics))
        }
        interpreter.diagnostics += DeadObjects.warnings(before: store, after: interpreter.store)
        if interpreter.store != store { FilterIdentity.retire(before: store, after: &interpreter.store) }
        return .success(TransactionPlan(before: store, dynamicBefore: dynamic, result: interpreter))
    }

    /// Host names the new store's filters use that the old one's did not: the caller checks that
    /// they resolve (a typo in a name is a filter that matches nothing).
    public var newHostNames: [String] {
        Self.hostNames(result.store).subtracting(Self.hostNames(before)).sorted()
    }

    static func hostNames(_ store: Store) -> Set<String> {
        var names = Set<String>()
        for policyStore in [store.local, store.persistent] {
            for list in policyStore.filterLists {
                for f in list.filters {
                    for side in [f.source, f.destination] { if case .dnsName(let n, _) = side { names.insert(n) } }
                }
            }
        }
        return names
    }

    /// What a dry run says about the store.
    public var dryRunSummary: String {
        "dry run: the store would \(storeChanged ? "" : "not ")change"
    }
}
