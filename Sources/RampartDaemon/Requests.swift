import Foundation
import Logging
import NIOPosix
import RampartCompiler
import RampartControl
import RampartNetlink
import RampartPolicy

/// Who is on the other end of the control socket (SO_PEERCRED).
public struct Peer: Sendable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
    /// Member of the control group.
    public var member: Bool

    public init(pid: Int32, uid: UInt32, gid: UInt32, member: Bool) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.member = member
    }

    public var role: Role { uid == 0 ? .admin : member ? .member : .outsider }

    public var description: String { "pid \(pid) uid \(uid) gid \(gid)" }
}

/// The longest `--confirm` window: a day. Longer is a typo, not a safety net.
public let maximumConfirmSeconds = 86_400

/// A request parsed and authorized: what the actor, or a worker thread, then runs.
struct PreparedRequest: Sendable {
    var request: ControlRequest
    var operation: ControlOperation
    var script: ParsedScript?
    var skipped: [BatchImporter.Skipped] = []
    var decision: Decision
    var location: StoreLocation?
    /// For the audit log: the command line, or the script's name and size.
    var summary: String
    /// Root's dry runs may read files (`importpolicy`); nobody else's queries read any.
    var mayReadFiles: Bool
}

let noFiles: @Sendable (String) throws -> String = { path in throw ValueError("cannot read \(path): only root's requests read files") }

/// How rampartd reads a file a command names: a regular file only, as the daemon's sandbox shows it.
let daemonReadFile: @Sendable (String) throws -> String = { path in
    try String(decoding: StoreFile.readRegularFile(path, what: "file"), as: UTF8.self)
}

/// The request path: parse and authorize off the daemon actor (on the blocking pool, so a large
/// script neither stalls the event loops nor delays self-healing), then run queries on a copy,
/// off the actor too, and only changes inside it.
enum RequestProcessor {
    static func process(_ request: ControlRequest, from peer: Peer, daemon: Daemon, logger: Logger) async -> ControlResponse {
        guard let operation = request.operation else {
            return .failure("unknown operation '\(request.op.debugDescription.dropFirst().dropLast())'; see docs/control-protocol.md")
        }
        // Outsiders were answered and closed at accept (ControlServer); Authorization refuses them too.
        let group = daemon.controlGroup
        let prepared: PreparedRequest
        do {
            prepared = try await NIOThreadPool.singleton.runIfActive { try prepare(request, operation, peer: peer, group: group) }
        } catch let error as Diagnostic {
            if peer.role != .admin { logger.warning("rejected request from \(peer): \(operation.rawValue): \(error)") }
            return .failure("\(error)\nnothing was changed")
        } catch let error as RequestError {
            if peer.role != .admin { logger.warning("rejected request from \(peer): \(operation.rawValue): \(error.message)") }
            return .failure(error.message)
        } catch {
            return .failure("cannot prepare the request: \(error)")
        }
        switch prepared.decision {
        case .denied(let reason):
            logger.warning("refused request from \(peer): \(prepared.summary): \(reason)")
            return .failure(reason)
        case .query:
            return await daemon.query(prepared)
        case .change:
            logger.notice("request from \(peer): \(prepared.summary)")
            return await daemon.change(prepared, from: peer)
        }
    }

    struct RequestError: Error {
        var message: String
    }

    /// Parses what the request would run and decides what it may do. Pure but for the clock.
    static func prepare(_ request: ControlRequest, _ operation: ControlOperation, peer: Peer, group: String) throws -> PreparedRequest {
        var location: StoreLocation?
        if let raw = request.location {
            guard let l = StoreLocation(rawValue: raw) else {
                throw RequestError(message: "invalid location '\(raw)': expected local or persistent")
            }
            location = l
        }
        if let seconds = request.confirmSeconds {
            guard operation == .exec, (1...maximumConfirmSeconds).contains(seconds) else {
                throw RequestError(message: "confirmSeconds must be from 1 to \(maximumConfirmSeconds) (a day), and only with exec; nothing was changed")
            }
        }
        var script: ParsedScript?
        var skipped: [BatchImporter.Skipped] = []
        var summary = operation.rawValue
        switch operation {
        case .netsh:
            let line = try ScriptRunner.commandLine(arguments: request.args ?? [])
            script = try ScriptRunner.parse([line], context: .ipsec)
            summary = "netsh \(line.text)"
        case .exec:
            let name = request.name ?? "<script>"
            script = try ScriptPlan.exec(request.script ?? "", file: name)
            summary = "exec \(name.debugDescription) (\(script!.commands.count) commands\(request.dryRun == true ? ", dry run" : "")\(request.confirmSeconds.map { ", confirm within \($0) s" } ?? ""))"
        case .import:
            let name = request.name ?? "<batch>"
            let planned = try ScriptPlan.import(request.script ?? "", file: name, defines: request.defines ?? [:])
            script = planned.script
            skipped = planned.skipped
            summary = "import \(name.debugDescription) (\(planned.script.commands.count) commands\(request.dryRun == true ? ", dry run" : ""))"
        default:
            break
        }
        let decision = Authorization.decide(operation, script: script, dryRun: request.dryRun ?? false, role: peer.role, group: group)
        return PreparedRequest(request: request, operation: operation, script: script, skipped: skipped, decision: decision,
                               location: location, summary: summary, mayReadFiles: peer.role == .admin)
    }
}

extension Daemon {
    /// Reads: rendered from a snapshot on the blocking pool, never holding the actor.
    func query(_ prepared: PreparedRequest) async -> ControlResponse {
        let snapshot = (store: store, dynamic: dynamic, addresses: addresses, storePath: config.store)
        switch prepared.operation {
        case .status:
            return ControlResponse(ok: true, text: statusText(), json: statusJSON().rendered())
        case .dynamic:
            return ControlResponse(ok: true, text: dynamicText(), json: dynamicJSON().rendered())
        case .active:
            return await offActor {
                let filters = Ordering.display(EffectiveFilters.collect(snapshot.store, dynamic: snapshot.dynamic))
                return ControlResponse(ok: true, text: ActiveListing.text(filters), json: ActiveListing.json(filters).rendered())
            }
        case .dump:
            return await offActor { ControlResponse(ok: true, text: ScriptWriter.dump(snapshot.store)) }
        case .counters:
            let counters: [NftablesClient.RuleCounter]
            do {
                counters = try client.ruleCounters()
            } catch {
                return .failure("cannot read the counters: \(error)")
            }
            return await offActor {
                let origins = CounterListing.origins(snapshot.store, dynamic: snapshot.dynamic)
                return ControlResponse(ok: true, text: CounterListing.text(counters, origins: origins), json: CounterListing.json(counters, origins: origins).rendered())
            }
        case .netsh, .exec, .import:
            // A query or a dry run: the store as on disk (what a change would start from), on a copy.
            let readFile: @Sendable (String) throws -> String = prepared.mayReadFiles ? daemonReadFile : noFiles
            return await offActor {
                let onDisk: Store
                do {
                    onDisk = try StoreFile(path: snapshot.storePath).load()
                } catch {
                    return .failure("\(error); fix or remove the store, then 'systemctl reload rampartd'")
                }
                let interpreter: Interpreter
                switch Self.run(prepared, on: onDisk, dynamic: snapshot.dynamic, readFile: readFile) {
                case .success(let i): interpreter = i
                case .failure(let failed): return failed.response
                }
                var response = Self.outputs(interpreter)
                if prepared.request.dryRun == true {
                    response.text += "dry run: the store would \(interpreter.store != onDisk ? "" : "not ")change; nothing was written or applied\n"
                } else {
                    response.files = Self.files(interpreter)
                }
                return Self.withSkipped(prepared, response)
            }
        case .reload, .confirm:
            return .failure("'\(prepared.operation.rawValue)' is not a query")
        }
    }

    nonisolated func offActor(_ body: @escaping @Sendable () -> ControlResponse) async -> ControlResponse {
        do {
            return try await NIOThreadPool.singleton.runIfActive(body)
        } catch {
            return .failure("rampartd is stopping")
        }
    }

    struct Failed: Error {
        var response: ControlResponse
    }

    /// Runs the prepared commands on a copy of `store`; files are read only through `readFile`.
    static func run(_ prepared: PreparedRequest, on store: Store, dynamic: DynamicState,
                    readFile: @escaping (String) throws -> String) -> Result<Interpreter, Failed> {
        var interpreter = Interpreter(store: store, dynamic: dynamic, workingDirectory: prepared.request.workingDirectory ?? "/", readFile: readFile)
        if let location = prepared.location { interpreter.location = location }
        do {
            try ScriptRunner.run(prepared.script ?? ParsedScript(), in: &interpreter)
        } catch {
            return .failure(Failed(response: .failure("\(error)\nnothing was changed", diagnostics: interpreter.diagnostics.map(\.description))))
        }
        return .success(interpreter)
    }

    /// Files `exportpolicy` produced, for the client to write as the user who asked (nil: none).
    static func files(_ interpreter: Interpreter) -> [ControlFile]? {
        interpreter.pendingFiles.isEmpty ? nil : interpreter.pendingFiles.map { ControlFile(path: $0.path, contents: $0.contents) }
    }

    static func outputs(_ interpreter: Interpreter) -> ControlResponse {
        let text = interpreter.outputs.map(ShowRenderer.text).joined()
        let json = interpreter.outputs.isEmpty ? nil
            : (interpreter.outputs.count == 1 ? ShowRenderer.json(interpreter.outputs[0]) : .array(interpreter.outputs.map(ShowRenderer.json))).rendered()
        return ControlResponse(ok: true, diagnostics: interpreter.diagnostics.map(\.description), text: text, json: json)
    }

    static func withSkipped(_ prepared: PreparedRequest, _ response: ControlResponse) -> ControlResponse {
        guard prepared.operation == .import else { return response }
        var response = response
        let skipped = prepared.skipped.map { "\($0.location): skipped (\($0.reason)): \($0.text)\n" }.joined()
        response.text = skipped + response.text
        return response
    }

    /// Changes: one at a time, inside the actor.
    func change(_ prepared: PreparedRequest, from peer: Peer) -> ControlResponse {
        switch prepared.operation {
        case .reload:
            let error = reload()
            return ControlResponse(ok: error == nil, error: error, text: statusText())
        case .confirm:
            return confirm(by: peer)
        default:
            if let pending = pendingConfirm {
                return .failure("a change applied with --confirm is waiting for confirmation (rollback at \(ISO8601DateFormatter().string(from: pending.deadline))): "
                                + "run 'rampart confirm' to keep it, or wait for the rollback, then try again; nothing was changed")
            }
            return transact(prepared, from: peer)
        }
    }

    func confirm(by peer: Peer) -> ControlResponse {
        guard pendingConfirm != nil else { return .failure("nothing to confirm: no change is waiting for confirmation") }
        do {
            try storeFile.removePending()
        } catch {
            return .failure("cannot remove the pending-confirmation journal (\(error)); the change is still pending")
        }
        pendingConfirm = nil
        clearProblem(.confirm)
        logger.notice("change confirmed by \(peer)")
        return ControlResponse(ok: true, text: "confirmed: the change stays\n")
    }

    /// Runs the parsed commands against the store on disk (under its lock) and the runtime
    /// state; if anything changed, applies the result in one transaction and only then writes
    /// the store. Nothing is written and the ruleset stays when any step fails.
    func transact(_ prepared: PreparedRequest, from peer: Peer) -> ControlResponse {
        let file = storeFile
        let request = prepared.request
        do {
            return try file.withExclusiveLock { () throws -> ControlResponse in
                let onDisk: Store
                do {
                    onDisk = try file.load()
                } catch {
                    return .failure("\(error); fix or remove the store, then 'systemctl reload rampartd'")
                }
                let interpreter: Interpreter
                switch Self.run(prepared, on: onDisk, dynamic: dynamic, readFile: daemonReadFile) {
                case .success(let i): interpreter = i
                case .failure(let failed): return failed.response
                }
                var response = Self.outputs(interpreter)
                let storeChanged = interpreter.store != onDisk
                let dynamicChanged = interpreter.dynamic != dynamic
                guard storeChanged || dynamicChanged || onDisk != store else {
                    response.files = Self.files(interpreter)
                    return Self.withSkipped(prepared, response)
                }
                let previous = (store: store, dynamic: dynamic, ruleset: applied, enforcing: enforcing)
                let ruleset = compiler.compile(interpreter.store, dynamic: interpreter.dynamic, addresses: addresses)
                if case .failure(let e) = apply(ruleset, what: .policy, reason: "\(prepared.operation.rawValue) request") {
                    return .failure("the kernel rejected the new ruleset; nothing was changed: \(e)", diagnostics: response.diagnostics)
                }
                func undo(_ why: String) -> ControlResponse {
                    if let old = previous.ruleset { _ = apply(old, what: previous.enforcing, reason: "undo after \(why)") }
                    return .failure("\(why); the previous ruleset was restored", diagnostics: response.diagnostics)
                }
                var confirmText = ""
                if let seconds = request.confirmSeconds {
                    // The journal goes first: whatever stops us after it, a restart rolls back.
                    let pending = PendingConfirmation(deadline: Date().addingTimeInterval(Double(seconds)), previous: onDisk, requestedBy: peer.description)
                    do {
                        try file.savePending(pending)
                    } catch {
                        return undo("cannot write the pending-confirmation journal (\(error))")
                    }
                    confirmTokens += 1
                    pendingConfirm = PendingConfirm(token: confirmTokens, deadline: pending.deadline, previousStore: onDisk, previousDynamic: previous.dynamic)
                    confirmText = "applied; run 'rampart confirm' within \(seconds) seconds or the previous policy comes back (also if rampartd restarts meanwhile)\n"
                }
                if storeChanged {
                    do {
                        try file.save(interpreter.store)
                    } catch {
                        if request.confirmSeconds != nil {
                            pendingConfirm = nil
                            try? file.removePending()
                        }
                        return undo("cannot write the store (\(error))")
                    }
                }
                store = interpreter.store
                storeWasLoaded = true
                dynamic = interpreter.dynamic ?? dynamic
                storeState = "loaded; changed by \(prepared.operation.rawValue)"
                clearProblem(.store)
                clearProblem(.apply)
                phase = .running
                resolveNames()
                if let pending = pendingConfirm, request.confirmSeconds != nil {
                    let token = pending.token
                    logger.notice("change applied pending confirmation; rollback at \(ISO8601DateFormatter().string(from: pending.deadline))")
                    Task { [weak self] in
                        try? await Task.sleep(for: .seconds(request.confirmSeconds!))
                        await self?.rollbackIfUnconfirmed(token)
                    }
                }
                response.text += confirmText
                response.files = Self.files(interpreter)
                return Self.withSkipped(prepared, response)
            }
        } catch {
            return .failure("\(error)")
        }
    }

    /// The lockout guard: an unconfirmed change is undone — store and ruleset — even if the client
    /// that made it is long gone (its SSH session cut by the new policy).
    func rollbackIfUnconfirmed(_ token: Int) {
        guard let pending = pendingConfirm, pending.token == token else { return }
        logger.warning("change not confirmed in time: rolling back to the previous policy")
        let ruleset = compiler.compile(pending.previousStore, dynamic: pending.previousDynamic, addresses: addresses)
        guard case .success = apply(ruleset, what: .policy, reason: "rollback of an unconfirmed change") else {
            report(.confirm, "rollback: the kernel rejected the previous ruleset; retrying in 5 s")
            Task { [weak self] in
                try? await Task.sleep(for: .seconds(5))
                await self?.rollbackIfUnconfirmed(token)
            }
            return
        }
        pendingConfirm = nil
        do {
            try storeFile.withExclusiveLock {
                try storeFile.save(pending.previousStore)
                try storeFile.removePending()
            }
            clearProblem(.confirm)
        } catch {
            report(.confirm, "rollback: the previous ruleset is enforced but the store could not be written: \(error)")
        }
        store = pending.previousStore
        dynamic = pending.previousDynamic
        storeState = "loaded; rolled back an unconfirmed change"
    }
}
