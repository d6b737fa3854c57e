import Foundation
import RampartCompiler
import RampartControl
import RampartNetlink
import RampartPolicy

/// Who is on the other end of the control socket (SO_PEERCRED).
public struct Peer: Sendable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
    /// uid 0: may change things.
    public var isAdmin: Bool { uid == 0 }
    /// Member of the control group: may query.
    public var mayQuery: Bool

    public init(pid: Int32, uid: UInt32, gid: UInt32, mayQuery: Bool) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.mayQuery = mayQuery || uid == 0
    }

    public var description: String { "pid \(pid) uid \(uid)" }
}

extension Daemon {
    /// Serves one control request. Queries need root or the control group; changes need root.
    public func handle(_ request: ControlRequest, from peer: Peer) async -> ControlResponse {
        guard peer.mayQuery else { return .failure("permission denied: only root and members of group \(config.controlGroup) may use rampartd") }
        let changes: Bool
        switch request.op {
        case "status", "active", "counters", "dump", "dynamic": changes = false
        case "netsh": changes = !Daemon.isQuery(request.args ?? [])
        case "exec", "import", "reload", "confirm": changes = true
        default: return .failure("unknown operation '\(request.op)'; see docs/control-protocol.md")
        }
        if changes && !peer.isAdmin {
            return .failure("permission denied: '\(request.op)' changes the policy and needs root")
        }
        if changes { logger.info("request from \(peer): \(request.op) \((request.args ?? []).joined(separator: " "))\(request.name.map { " \($0)" } ?? "")") }
        switch request.op {
        case "status":
            return ControlResponse(ok: true, text: statusText(), json: statusJSON().rendered())
        case "active":
            let filters = Ordering.display(EffectiveFilters.collect(store, dynamic: dynamic))
            return ControlResponse(ok: true, text: ActiveListing.text(filters), json: ActiveListing.json(filters).rendered())
        case "counters":
            do {
                let counters = try client.ruleCounters()
                let origins = CounterListing.origins(store, dynamic: dynamic)
                return ControlResponse(ok: true, text: CounterListing.text(counters, origins: origins), json: CounterListing.json(counters, origins: origins).rendered())
            } catch {
                return .failure("cannot read the counters: \(error)")
            }
        case "dump":
            return ControlResponse(ok: true, text: ScriptWriter.dump(store))
        case "dynamic":
            return ControlResponse(ok: true, text: dynamicText(), json: dynamicJSON().rendered())
        case "reload":
            reload()
            return ControlResponse(ok: phase == .running, error: phase == .running ? nil : problems.last, text: statusText())
        case "confirm":
            guard pendingConfirm != nil else { return .failure("nothing to confirm: no change is waiting for confirmation") }
            pendingConfirm = nil
            logger.notice("change confirmed by \(peer)")
            return ControlResponse(ok: true, text: "confirmed: the change stays\n")
        case "netsh":
            let line = ScriptRunner.commandLine(arguments: request.args ?? [])
            return transact(request, dryRun: false) { interpreter throws(Diagnostic) in
                try ScriptRunner.run([line], in: &interpreter, context: .ipsec)
            }
        case "exec":
            let lines = ScriptRunner.lines(of: request.script ?? "", file: request.name ?? "<script>")
            return transact(request, dryRun: request.dryRun ?? false) { interpreter throws(Diagnostic) in
                try ScriptRunner.run(lines, in: &interpreter)
            }
        default:  // import
            var importer = BatchImporter(defines: request.defines ?? [:])
            let extracted: BatchImporter.Result
            do {
                extracted = try importer.extract(request.script ?? "", file: request.name ?? "<batch>")
            } catch {
                return .failure(error.description)
            }
            var response = transact(request, dryRun: request.dryRun ?? false) { interpreter throws(Diagnostic) in
                try ScriptRunner.run(commands: extracted.commands, in: &interpreter)
            }
            let skipped = extracted.skipped.map { "\($0.location): skipped (\($0.reason)): \($0.text)\n" }.joined()
            response.text = skipped + response.text
            return response
        }
    }

    static func isQuery(_ args: [String]) -> Bool {
        let words = args.map { $0.lowercased() }.filter { !["netsh", "netsh.exe", "ipsec"].contains($0) }
        guard words.count >= 2 else { return words.first == "dump" }
        return ["show", "sh", "dump"].contains(words[1]) || words[0] == "dump"
    }

    /// Runs commands against the store on disk (under its lock) and the runtime state; if anything
    /// changed, applies the result in one transaction and only then writes the store. Nothing is
    /// written and the ruleset stays when any step fails.
    func transact(_ request: ControlRequest, dryRun: Bool, _ body: (inout Interpreter) throws(Diagnostic) -> Void) -> ControlResponse {
        let file = storeFile
        do {
            return try file.withExclusiveLock { () throws -> ControlResponse in
                let onDisk: Store
                do {
                    onDisk = try file.load()
                } catch {
                    return .failure("\(error); fix or remove the store, then 'systemctl reload rampartd'")
                }
                var interpreter = Interpreter(store: onDisk, dynamic: dynamic, workingDirectory: request.workingDirectory ?? "/",
                                              readFile: { path in try String(contentsOfFile: path, encoding: .utf8) })
                if let location = request.location.flatMap(StoreLocation.init(rawValue:)) { interpreter.location = location }
                do {
                    try body(&interpreter)
                } catch {
                    return .failure("\(error)\nnothing was changed", diagnostics: interpreter.diagnostics.map(\.description))
                }
                let diagnostics = interpreter.diagnostics.map(\.description)
                let text = interpreter.outputs.map(ShowRenderer.text).joined()
                let json = interpreter.outputs.isEmpty ? nil
                    : (interpreter.outputs.count == 1 ? ShowRenderer.json(interpreter.outputs[0]) : .array(interpreter.outputs.map(ShowRenderer.json))).rendered()
                let storeChanged = interpreter.store != onDisk
                let dynamicChanged = interpreter.dynamic != dynamic
                if dryRun {
                    return ControlResponse(ok: true, diagnostics: diagnostics,
                                           text: text + "dry run: the store would \(storeChanged ? "" : "not ")change; nothing was written or applied\n", json: json)
                }
                guard storeChanged || dynamicChanged || !interpreter.pendingFiles.isEmpty || onDisk != store else {
                    return ControlResponse(ok: true, diagnostics: diagnostics, text: text, json: json)
                }
                let previous = (store: store, dynamic: dynamic, ruleset: applied)
                let ruleset = compiler.compile(interpreter.store, dynamic: interpreter.dynamic, addresses: addresses)
                if case .failure(let e) = apply(ruleset, what: "policy", reason: "\(request.op) request") {
                    return .failure("the kernel rejected the new ruleset; nothing was changed: \(e)", diagnostics: diagnostics)
                }
                if storeChanged {
                    do {
                        try file.save(interpreter.store)
                    } catch {
                        if let old = previous.ruleset { _ = apply(old, what: "policy", reason: "undo after a failed store write") }
                        return .failure("cannot write the store (\(error)); the previous ruleset was restored", diagnostics: diagnostics)
                    }
                }
                store = interpreter.store
                dynamic = interpreter.dynamic ?? dynamic
                storeState = "loaded; changed by \(request.op)"
                problems = []
                phase = .running
                resolveNames()
                var confirmText = ""
                if let seconds = request.confirmSeconds, seconds > 0 {
                    confirmTokens += 1
                    let token = confirmTokens
                    pendingConfirm = PendingConfirm(token: token, deadline: Date().addingTimeInterval(Double(seconds)),
                                                    previousStore: previous.store, previousDynamic: previous.dynamic)
                    confirmText = "applied; run 'rampart confirm' within \(seconds) seconds or the previous policy comes back\n"
                    logger.notice("change applied pending confirmation; rollback in \(seconds) s")
                    Task { [weak self] in
                        try? await Task.sleep(for: .seconds(seconds))
                        await self?.rollbackIfUnconfirmed(token)
                    }
                }
                var response = ControlResponse(ok: true, diagnostics: diagnostics, text: text + confirmText, json: json)
                if !interpreter.pendingFiles.isEmpty {
                    response.files = interpreter.pendingFiles.map { ControlFile(path: $0.path, contents: $0.contents) }
                }
                return response
            }
        } catch {
            return .failure("\(error)")
        }
    }

    /// The lockout guard: an unconfirmed change is undone — store and ruleset — even if the client
    /// that made it is long gone (its SSH session cut by the new policy).
    func rollbackIfUnconfirmed(_ token: Int) {
        guard let pending = pendingConfirm, pending.token == token else { return }
        pendingConfirm = nil
        logger.warning("change not confirmed in time: rolling back to the previous policy")
        let ruleset = compiler.compile(pending.previousStore, dynamic: pending.previousDynamic, addresses: addresses)
        guard case .success = apply(ruleset, what: "policy", reason: "rollback of an unconfirmed change") else {
            fail("rollback: the kernel rejected the previous ruleset")
            return
        }
        do {
            try storeFile.withExclusiveLock { try storeFile.save(pending.previousStore) }
        } catch {
            fail("rollback: the previous ruleset is enforced but the store could not be written: \(error)")
        }
        store = pending.previousStore
        dynamic = pending.previousDynamic
        storeState = "loaded; rolled back an unconfirmed change"
    }
}
