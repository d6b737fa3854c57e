import RampartIPsec
import ArgumentParser
import FoundationEssentials
import Dispatch
import Glibc
import Synchronization
import RampartCompiler
import RampartControl
import RampartPolicy
import RampartReport
import RampartSystem
import RampartVici
import RampartSyscall

func printError(_ message: Any) {
    // FoundationEssentials has no FileHandle; the CLI links only it (no Foundation or ICU at start).
    _ = Array("\(message)\n".utf8).withUnsafeBytes { writeAll(2, $0) }
}

/// Standard input to its end.
func readStandardInput() -> Data {
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let (n, _) = Syscall.uninterrupted { buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) } }
        guard n > 0 else { break }
        out += buffer[0..<n]
    }
    return Data(out)
}

/// A script or batch file, decoded as its encoding says (ScriptText): refused, not guessed,
/// when it is not text. `-` is standard input.
func readInput(_ path: String, encoding: ScriptText.Encoding = .auto) throws -> String {
    let data: Data
    if path == "-" {
        data = readStandardInput()
    } else {
        do {
            data = try StoreFile.readRegularFile(path, what: "script")
        } catch {
            printError("rampart: error: \(error)")
            throw ExitCode.failure
        }
    }
    do {
        return try ScriptText.decode(
            [UInt8](data), file: path == "-" ? "<stdin>" : path, encoding: encoding, legacy: iconvDecoder)
    } catch {
        var error = error
        if error.message.hasPrefix("invalid UTF-8") { error.message += likelyEncodings([UInt8](data)) }
        printError(error)
        printError("rampart: nothing was changed")
        throw ExitCode.failure
    }
}

/// Parses a script up front; a parse error names file, line and column and nothing runs.
func parsed<T>(_ body: () throws(Diagnostic) -> T) throws -> T {
    do {
        return try body()
    } catch {
        printError(error)
        printError("rampart: nothing was changed")
        throw ExitCode.failure
    }
}

func loadStore(_ file: StoreFile) throws -> Store {
    do {
        return try file.load()
    } catch {
        printError("rampart: error: \(error)")
        throw ExitCode.failure
    }
}

/// One netsh command from the command line, as a one-line script. Whether it changes anything
/// is read from its parse, as rampartd decides it.
func runSingle(context: String, words: [String], global: GlobalOptions) throws {
    let script = try parsed { () throws(Diagnostic) in
        try ScriptRunner.parse([try ScriptRunner.commandLine(arguments: [context] + words)], context: .ipsec)
    }
    let request = ControlRequest(op: .netsh, args: [context] + words, location: global.location.rawValue)
    if try viaDaemon(request, global: global, changes: !script.isQuery) { return }
    try transaction(script, global: global, dryRun: false)
}

/// The offline path of a change: the shared plan (`TransactionPlan`, as rampartd makes it) on
/// the store file, under the store lock for a change; writes the store and any exported files
/// only if every command succeeded. Prints diagnostics and outputs.
func transaction(_ script: ParsedScript, global: GlobalOptions, dryRun: Bool) throws {
    let file = global.storeFile
    let readOnly = script.isQuery
    let work = {
        let original = try loadStore(file)
        let plan: TransactionPlan
        switch TransactionPlan.make(
            script, on: original, location: global.location, workingDirectory: FileManager.default.currentDirectoryPath,
            readFile: { path in try String(decoding: StoreFile.readRegularFile(path, what: "file"), as: UTF8.self) })
        {
        case .success(let p): plan = p
        case .failure(let failure):
            for d in failure.diagnostics { printError(d) }
            printError(failure.error)
            // A query that fails changed nothing by nature: saying so would only confuse.
            if !readOnly { printError("rampart: nothing was changed") }
            throw ExitCode.failure
        }
        for d in plan.result.diagnostics { printError(d) }
        render(plan.result.outputs, json: global.json)
        let files = plan.result.pendingFiles
        if dryRun {
            print(
                "\(plan.dryRunSummary)\(files.isEmpty ? "" : ", \(files.count) file(s) would be written"); nothing was written"
            )
            return
        }
        // A policy rampart would refuse to apply is refused here, before it is stored.
        if plan.storeChanged, let problem = RulesetLimits.problem(RulesetCompiler().compile(plan.result.store)) {
            printError("rampart: error: \(problem)")
            printError("rampart: nothing was changed")
            throw ExitCode.failure
        }
        if plan.storeChanged {
            try file.save(plan.result.store)
        }
        warnUnresolved(plan.newHostNames)
        for pending in files {
            try writeAtomically(Data(pending.contents.utf8), to: pending.path)
        }
    }
    do {
        if readOnly || dryRun {
            try work()
        } else {
            try file.withExclusiveLock(work)
        }
    } catch let error as StoreError {
        printError("rampart: error: \(error)")
        throw ExitCode.failure
    }
}

/// Without rampartd, `show mmsas|qmsas|stats` asks charon at its default socket directly.
func render(_ outputs: [Output], json: Bool) {
    guard !outputs.isEmpty else { return }
    let view = outputs.asksIPsec ? IPsecView.gather(socket: IPsecView.defaultSocket) : nil
    if json {
        let values = outputs.map { ShowRenderer.json($0, ipsec: view) }
        print((values.count == 1 ? values[0] : .array(values)).rendered())
    } else {
        for o in outputs { print(ShowRenderer.text(o, ipsec: view), terminator: "") }
    }
}

/// Sends the request to rampartd when it runs and prints its answer; returns false when the
/// command should work on the store file instead (the daemon is not running, or --store was
/// given). Says which one it used.
func viaDaemon(_ request: ControlRequest, global: GlobalOptions, changes: Bool, required: Bool = false) throws -> Bool {
    if global.store != nil && global.socket == nil && !required { return false }
    let path = global.socketPath
    var request = request
    if changes {
        request.sessions = clientSessions()
        request.force = forced(global) ? true : nil
    }
    let response: ControlResponse
    do {
        response = try ControlClient.send(request, to: path)
    } catch {
        if case .notRunning = error {
            if required {
                printError("rampart: \(error)")
                throw ExitCode(3)
            }
            if changes {
                printError("rampart: rampartd is not running: working on the store file \(global.storeFile.path) only")
            }
            return false
        }
        printError("rampart: error: \(error)")
        throw ExitCode.failure
    }
    for d in response.diagnostics { printError(d) }
    guard response.ok else {
        // A script error is a diagnostic that already names file, line and column.
        let message = response.error ?? "request failed"
        printError(response.code == .script ? message : "rampart: error: \(message)")
        throw ExitCode.failure
    }
    warnUnresolved(response.hostNames ?? [])
    for file in response.files ?? [] {
        do {
            try writeAtomically(Data(file.contents.utf8), to: file.path)
        } catch {
            printError("rampart: error: cannot write \(file.path): \(error)")
            throw ExitCode.failure
        }
    }
    if global.json, let json = response.json {
        print(json)
    } else {
        print(response.text, terminator: "")
    }
    if changes { printError("rampart: applied by rampartd") }
    return true
}

/// After a change: the host names it brought that do not resolve here, each warned with its name
/// (a typo is a filter that matches nothing). At most 16 names, 3 s in all: getaddrinfo(3) cannot
/// be cancelled, so a slow lookup is left running and reported as such.
func warnUnresolved(_ names: [String]) {
    guard !names.isEmpty else { return }
    let checked = Array(names.prefix(16))
    let results = Mutex<[String: Result<[IPAddress], HostLookupError>]>([:])
    let group = DispatchGroup()
    for name in checked {
        DispatchQueue.global().async(group: group) {
            let result = HostLookup.resolve(name)
            results.withLock { $0[name] = result }
        }
    }
    _ = group.wait(timeout: .now() + 3)
    let found = results.withLock { $0 }
    for name in checked {
        let next = "its filters match nothing until it does; check the spelling, or use an address"
        switch found[name] {
        case .failure(let error)?:
            printError("rampart: warning: host name '\(name)' does not resolve here (\(error.message)): \(next)")
        case .success(let addresses)? where addresses.isEmpty:
            printError("rampart: warning: host name '\(name)' has no addresses: \(next)")
        case nil:
            printError("rampart: warning: host name '\(name)' did not resolve within 3 s: \(next)")
        case .success?: break
        }
    }
    if names.count > checked.count {
        printError("rampart: note: \(names.count - checked.count) more new host name(s) were not checked")
    }
}
