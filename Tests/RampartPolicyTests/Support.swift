import Testing
@testable import RampartPolicy

/// Runs a netsh script (relative to the netsh root, `pushd` allowed) on `store`.
func run(
    _ script: String, store: Store = Store(), dynamic: DynamicState? = nil, file: String = "t.netsh",
    files: [String: String] = [:]
) throws(Diagnostic) -> Interpreter {
    var counter = 0
    var interpreter = Interpreter(
        store: store, dynamic: dynamic, workingDirectory: "/w",
        readFile: { path in
            guard let text = files[path] else { throw ValueError("no such file \(path)") }
            return text
        },
        makeGUID: {
            counter += 1
            return "{guid-\(counter)}"
        })
    try ScriptRunner.run(ScriptRunner.lines(of: script, file: file), in: &interpreter)
    return interpreter
}

/// Runs static commands (one per line, relative to `ipsec static`).
func runStatic(_ lines: String, store: Store = Store()) throws(Diagnostic) -> Interpreter {
    try run("pushd ipsec static\n" + lines, store: store)
}

/// The error a script raises, or nil.
func error(
    of script: String, store: Store = Store(), dynamic: DynamicState? = nil, file: String = "t.netsh"
) -> Diagnostic? {
    do {
        _ = try run(script, store: store, dynamic: dynamic, file: file)
        return nil
    } catch {
        return error
    }
}

func staticError(_ lines: String, store: Store = Store()) -> Diagnostic? {
    error(of: "pushd ipsec static\n" + lines, store: store)
}

func warnings(_ i: Interpreter) -> [String] {
    i.diagnostics.filter { $0.severity == .warning }.map(\.description)
}
