import RampartIPsec
import FoundationEssentials
import Logging
import NIOPosix
import RampartCompiler
import RampartControl
import RampartNetlink
import RampartPolicy
import RampartReport
import RampartSystem
import RampartVici

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

/// A request parsed and authorized: what the engine, or a worker thread, then runs.
struct PreparedRequest: Sendable {
    var request: ControlRequest
    var script: ParsedScript?
    var skipped: [BatchImporter.Skipped] = []
    var decision: Decision
    var location: StoreLocation?
    /// For the audit log: the command line, or the script's name and size.
    var summary: String
    /// Root's dry runs may read files (`importpolicy`); nobody else's queries read any.
    var mayReadFiles: Bool
    /// Anyone but root sees pre-shared keys redacted, in every query (`Store.redactingSecrets`).
    var redactsSecrets: Bool { !mayReadFiles }

    var operation: ControlOperation { request.op }
}

let noFiles: @Sendable (String) throws -> String = { path in
    throw ValueError("cannot read \(path): only root's requests read files")
}

/// How rampartd reads a file a command names: a regular file only, as the daemon's sandbox shows it.
let daemonReadFile: @Sendable (String) throws -> String = { path in
    try String(decoding: StoreFile.readRegularFile(path, what: "file"), as: UTF8.self)
}

/// The request path: parse and authorize off the engine (on the blocking pool, so a large
/// script neither stalls the event loops nor delays self-healing), then run queries on a copy,
/// off the engine too, and only changes inside it.
public enum RequestRouter {
    public static func process(
        _ request: ControlRequest, from peer: Peer, engine: PolicyEngine, logger: Logger
    ) async -> ControlResponse {
        // Outsiders were answered and closed at accept (ControlServer); Authorization refuses them too.
        let group = engine.controlGroup
        let prepared: PreparedRequest
        do {
            prepared = try await NIOThreadPool.singleton.runIfActive { try prepare(request, peer: peer, group: group) }
        } catch let error as Diagnostic {
            if peer.role != .admin { logger.warning("rejected request from \(peer): \(request.op.rawValue): \(error)") }
            return .failure(.script, "\(error)\nnothing was changed")
        } catch let error as RequestError {
            if peer.role != .admin {
                logger.warning("rejected request from \(peer): \(request.op.rawValue): \(error.message)")
            }
            return .failure(.badRequest, error.message)
        } catch {
            return .failure(.stopping, "cannot prepare the request: \(error)")
        }
        switch prepared.decision {
        case .denied(let reason):
            logger.warning("refused request from \(peer): \(prepared.summary): \(reason)")
            return .failure(.denied, reason)
        case .query:
            return await engine.query(prepared)
        case .change:
            logger.notice("request from \(peer): \(prepared.summary)")
            return await engine.change(prepared, from: peer)
        }
    }

    struct RequestError: Error {
        var message: String
    }

    /// Parses what the request would run and decides, once, what it may do. Pure.
    static func prepare(_ request: ControlRequest, peer: Peer, group: String) throws -> PreparedRequest {
        let operation = request.op
        var location: StoreLocation?
        if let raw = request.location {
            guard let l = StoreLocation(rawValue: raw) else {
                throw RequestError(message: "invalid location '\(raw)': expected local or persistent")
            }
            location = l
        }
        if let seconds = request.confirmSeconds {
            guard operation == .exec, (1...maximumConfirmSeconds).contains(seconds) else {
                throw RequestError(
                    message:
                        "confirmSeconds must be from 1 to \(maximumConfirmSeconds) (a day), and only with exec; nothing was changed"
                )
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
            summary =
                "exec \(name.debugDescription) (\(script!.commands.count) commands\(request.dryRun == true ? ", dry run" : "")\(request.confirmSeconds.map { ", confirm within \($0) s" } ?? ""))"
        case .import:
            let name = request.name ?? "<batch>"
            let planned = try ScriptPlan.import(
                request.script ?? "", file: name, defines: request.defines ?? [:],
                scriptPath: ScriptPlan.scriptPath(name, workingDirectory: request.workingDirectory ?? "/"))
            script = planned.script
            skipped = planned.skipped
            summary =
                "import \(name.debugDescription) (\(planned.script.commands.count) commands\(request.dryRun == true ? ", dry run" : ""))"
        case .status, .active, .counters, .dump, .dynamic, .explain, .metrics, .monitor, .reload, .confirm:
            break
        }
        let decision = Authorization.decide(
            operation, script: script, dryRun: request.dryRun ?? false, role: peer.role, group: group)
        return PreparedRequest(
            request: request, script: script, skipped: skipped, decision: decision,
            location: location, summary: summary, mayReadFiles: peer.role == .admin)
    }
}

extension PolicyEngine {
    /// What a query reads, taken on the engine: the store and dynamic state (redacted for anyone
    /// but root), and the store's path.
    struct Snapshot: Sendable {
        var store: Store
        var dynamic: DynamicState
        var storePath: String
    }

    /// Reads: a snapshot taken on the engine, rendered on the blocking pool.
    func query(_ prepared: PreparedRequest) async -> ControlResponse {
        let redacts = prepared.redactsSecrets
        let snapshot = Snapshot(
            store: redacts ? store.redactingSecrets() : store, dynamic: redacts ? dynamic.redactingSecrets() : dynamic,
            storePath: config.store)
        switch prepared.operation {
        case .status:
            let status = fullStatus()
            return await offEngine {
                ControlResponse(ok: true, text: StatusReport.text(status), json: StatusReport.json(status).rendered())
            }
        case .dynamic:
            let book = addressBook()
            return await offEngine { ControlResponse(ok: true, text: book.text, json: book.json.rendered()) }
        case .active: return await activeFilters(prepared, snapshot)
        case .dump:
            return await offEngine { ControlResponse(ok: true, text: ScriptWriter.dump(snapshot.store)) }
        case .explain:
            // What the engine enforces now: its store, dynamic rules and addresses, this namespace's `me`.
            let (addresses, words, now) = (self.addresses, prepared.request.args ?? [], wallNow)
            let most = redacts ? ListingPage.memberRows : nil
            return await offEngine {
                Explain.response(
                    words, store: snapshot.store, dynamic: snapshot.dynamic, addresses: addresses, at: now,
                    maxConsidered: most)
            }
        case .counters: return await counters(snapshot, args: prepared.request.args ?? [])
        case .metrics:
            let metrics: MetricsSnapshot
            do {
                metrics = try readingTable { try self.metrics() }
            } catch {
                return .failure(.kernel, "cannot read the counters: \(error)")
            }
            let format: MetricsSnapshot.Format = prepared.request.args == ["openmetrics"] ? .openMetrics : .prometheus
            return await offEngine { ControlResponse(ok: true, text: metrics.render(format)) }
        case .monitor:
            return await sharedMonitorFrame()
        case .netsh, .exec, .import:
            return await dryRun(prepared, snapshot)
        case .reload, .confirm:
            return .failure(.badRequest, "'\(prepared.operation.rawValue)' is not a query")
        }
    }

    /// `show active`, a page at a time for group members. The IP Security Monitor's "Store" and
    /// "GPO": which domain policy decides, since when.
    func activeFilters(_ prepared: PreparedRequest, _ snapshot: Snapshot) async -> ControlResponse {
        let domainHeader = domainLine().map { "Domain policy: \($0)\n\n" } ?? ""
        let now = wallNow
        let page: ListingPage
        switch ListingPage.parse(prepared.request.args ?? []) {
        case .success(let p): page = p.capped(member: prepared.redactsSecrets)
        case .failure(let message): return .failure(.badRequest, "show active: \(message)")
        }
        return await offEngine {
            let filters = Ordering.display(EffectiveFilters.collect(snapshot.store, dynamic: snapshot.dynamic, at: now))
            let range = page.range(total: filters.count)
            let rows = filters[range]
            var response = ControlResponse(
                ok: true, text: domainHeader + ActiveListing.text(rows, firstRank: range.lowerBound + 1),
                json: ActiveListing.json(rows, firstRank: range.lowerBound + 1).rendered())
            if let note = ListingPage.note(range, total: filters.count, command: "rampart show active") {
                response.diagnostics.append(note)
            }
            return response
        }
    }

    func counters(_ snapshot: Snapshot, args: [String]) async -> ControlResponse {
        let counters: [RuleCounter]
        do {
            counters = try readingTable { try client.ruleCounters() + client.elementCounters() }
        } catch {
            return .failure(.kernel, "cannot read the counters: \(error)")
        }
        let options = CounterListing.Options(words: args)
        return await offEngine {
            let rows = CounterListing.rows(
                counters, ranks: CounterListing.ranks(snapshot.store, dynamic: snapshot.dynamic), options: options)
            return ControlResponse(
                ok: true, text: CounterListing.text(rows), json: CounterListing.json(rows).rendered())
        }
    }

    /// A query or a dry run: the store as on disk (what a change would start from), on a copy.
    func dryRun(_ prepared: PreparedRequest, _ snapshot: Snapshot) async -> ControlResponse {
        let readFile: @Sendable (String) throws -> String = prepared.mayReadFiles ? daemonReadFile : noFiles
        let gather = ipsecGatherer()
        let redacts = prepared.redactsSecrets
        return await offEngine {
            let onDisk: Store
            do {
                let loaded = try StoreFile(path: snapshot.storePath).load()
                onDisk = redacts ? loaded.redactingSecrets() : loaded
            } catch {
                return .failure(.store, "\(error); fix or remove the store, then 'systemctl reload rampartd'")
            }
            let plan: TransactionPlan
            switch Self.plan(prepared, on: onDisk, dynamic: snapshot.dynamic, readFile: readFile) {
            case .success(let p): plan = p
            case .failure(let failed): return failed.response
            }
            var response = Self.outputs(plan.result, ipsec: gather)
            if prepared.request.dryRun == true {
                response.text += plan.dryRunSummary + "; nothing was written or applied\n"
            } else {
                response.files = Self.files(plan.result)
            }
            return Self.withSkipped(prepared, response)
        }
    }

    enum Explain {
        static func response(
            _ words: [String], store: Store, dynamic: DynamicState, addresses: DynamicAddresses, at time: Date = Date(),
            maxConsidered: Int? = nil
        ) -> ControlResponse {
            switch ExplainRun.run(
                words, store: store, dynamic: dynamic, addresses: addresses, host: Host(LocalAddresses.snapshot()),
                at: time,
                maxConsidered: maxConsidered)
            {
            case .success(let (text, json)): return ControlResponse(ok: true, text: text, json: json.rendered())
            case .failure(let failure): return .failure(.badRequest, "explain: \(failure)")
            }
        }
    }

    nonisolated func offEngine(_ body: @escaping @Sendable () -> ControlResponse) async -> ControlResponse {
        do {
            return try await NIOThreadPool.singleton.runIfActive(body)
        } catch {
            return .failure(.stopping, "rampartd is stopping")
        }
    }

    struct Failed: Error {
        var response: ControlResponse
    }

    static func plan(
        _ prepared: PreparedRequest, on store: Store, dynamic: DynamicState,
        readFile: @escaping (String) throws -> String
    ) -> Result<TransactionPlan, Failed> {
        TransactionPlan.make(
            prepared.script ?? ParsedScript(), on: store, dynamic: dynamic, location: prepared.location,
            workingDirectory: prepared.request.workingDirectory ?? "/", readFile: readFile
        )
        .mapError {
            // A query that fails changed nothing by nature: saying so would only confuse.
            let query = prepared.script?.isQuery ?? true
            return Failed(
                response: .failure(
                    .script, "\($0.error)" + (query ? "" : "\nnothing was changed"),
                    diagnostics: $0.diagnostics.map(\.description)))
        }
    }

    /// Files `exportpolicy` produced, for the client to write as the user who asked (nil: none).
    static func files(_ interpreter: Interpreter) -> [ControlFile]? {
        interpreter.pendingFiles.isEmpty
            ? nil : interpreter.pendingFiles.map { ControlFile(path: $0.path, contents: $0.contents) }
    }

    /// `ipsec` gathers charon's and the kernel's IPsec state, asked only when a `show mmsas|qmsas|stats` needs it.
    static func outputs(_ interpreter: Interpreter, ipsec: () -> IPsecView) -> ControlResponse {
        let view = interpreter.outputs.asksIPsec ? ipsec() : nil
        let text = interpreter.outputs.map { ShowRenderer.text($0, ipsec: view) }.joined()
        let values = interpreter.outputs.map { ShowRenderer.json($0, ipsec: view) }
        let json = values.isEmpty ? nil : (values.count == 1 ? values[0] : .array(values)).rendered()
        return ControlResponse(
            ok: true, diagnostics: interpreter.diagnostics.map(\.description), text: text, json: json)
    }

    static func withSkipped(_ prepared: PreparedRequest, _ response: ControlResponse) -> ControlResponse {
        guard prepared.operation == .import else { return response }
        var response = response
        let skipped = prepared.skipped.map { $0.listing + "\n" }.joined()
        response.text = skipped + response.text
        return response
    }

    /// Changes: one at a time, inside the engine.
    func change(_ prepared: PreparedRequest, from peer: Peer) -> ControlResponse {
        switch prepared.operation {
        case .reload:
            let error = reload()
            return ControlResponse(
                ok: error == nil, error: error, code: error == nil ? nil : reloadErrorCode(),
                text: StatusReport.text(status()))
        case .confirm:
            return confirm(by: peer)
        default:
            if let pending = confirmation.pending {
                return .failure(
                    .pendingConfirmation,
                    "a change applied with --confirm is waiting for confirmation (rollback at \(StatusReport.iso(pending.deadline))): "
                        + "run 'rampart confirm' to keep it, or wait for the rollback, then try again; nothing was changed"
                )
            }
            return transact(prepared, from: peer)
        }
    }

    func reloadErrorCode() -> ControlErrorCode {
        if health.problems[.config] != nil { return .config }
        if health.problems[.apply] != nil { return .kernel }
        return .store
    }

    public func confirm(by peer: Peer) -> ControlResponse {
        guard confirmation.pending != nil else {
            return .failure(.nothingToConfirm, "nothing to confirm: no change is waiting for confirmation")
        }
        do {
            try storeFile.removePending()
        } catch {
            return .failure(
                .store, "cannot remove the pending-confirmation journal (\(error)); the change is still pending")
        }
        perform(confirmation.end())
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
                    onDisk = try policy.read(file)
                } catch {
                    return .failure(.store, "\(error); fix or remove the store, then 'systemctl reload rampartd'")
                }
                let plan: TransactionPlan
                switch Self.plan(prepared, on: onDisk, dynamic: dynamic, readFile: daemonReadFile) {
                case .success(let p): plan = p
                case .failure(let failed): return failed.response
                }
                var response = Self.outputs(plan.result, ipsec: ipsecGatherer())
                guard plan.changesAnything || onDisk != store else {
                    response.files = Self.files(plan.result)
                    return Self.withSkipped(prepared, response)
                }
                let newDynamic = plan.result.dynamic ?? dynamic
                if var refused = lockoutRefusal(plan.result.store, newDynamic, request) {
                    refused.diagnostics = response.diagnostics
                    return refused
                }
                let previous = (dynamic: dynamic, enforcement: enforcement)
                let ruleset = compiler.compile(
                    plan.result.store, dynamic: newDynamic, addresses: addresses, at: wallNow)
                if case .failure(let e) = apply(.policy(ruleset), reason: "\(prepared.operation.rawValue) request") {
                    return .failure(
                        .kernel, "the kernel rejected the new ruleset; nothing was changed: \(e)",
                        diagnostics: response.diagnostics)
                }
                if let failure = persist(
                    plan, onDisk: onDisk, previousDynamic: previous.dynamic, request: request, peer: peer, in: file)
                {
                    _ = apply(previous.enforcement, reason: "undo after \(failure)")
                    return .failure(
                        .store, "\(failure); the previous ruleset was restored", diagnostics: response.diagnostics)
                }
                adopt(plan.result.store, dynamic: newDynamic, .changed(by: prepared.operation.rawValue))
                clearProblem(.store)
                clearProblem(.apply)
                timeline.enter(.running)
                resolveNames()
                if let seconds = request.confirmSeconds { response.text += armConfirmation(seconds) }
                response.files = Self.files(plan.result)
                let names = plan.newHostNames
                response.hostNames = names.isEmpty ? nil : names
                return Self.withSkipped(prepared, ipsecShortfall(response))
            }
        } catch {
            return .failure(.store, "\(error)")
        }
    }

    /// A change applied whose negotiate filters charon could not take (docs/ipsec.md): it stays
    /// applied — their clear traffic is dropped, as the policy says until an SA carries it — but
    /// the request fails, so a script learns that the policy is not enforced as written.
    func ipsecShortfall(_ response: ControlResponse) -> ControlResponse {
        guard let problem = health.problems[.ipsec] else { return response }
        var failed = response
        (failed.ok, failed.code) = (false, .ipsec)
        failed.error =
            "applied, but not as written: \(problem.replacing(", retrying", with: "")); rampartd retries and 'rampart status' shows it; start charon (or remove the negotiate rules)"
        return failed
    }

    /// A change just applied with --confirm: its rollback is scheduled; what the client is told.
    func armConfirmation(_ seconds: Int) -> String {
        if let pending = confirmation.pending {
            logger.notice("change applied pending confirmation; rollback at \(StatusReport.iso(pending.deadline))")
            schedule(.confirmDeadline(token: pending.token), after: .seconds(seconds))
        }
        return
            "applied; run 'rampart confirm' within \(seconds) seconds or the previous policy comes back (also if rampartd restarts meanwhile)\n"
    }

    /// After the kernel took the new ruleset: the journal first (with --confirm: whatever stops us
    /// after it, a restart rolls back), then the store. What failed, nil when both were written.
    func persist(
        _ plan: TransactionPlan, onDisk: Store, previousDynamic: DynamicState, request: ControlRequest, peer: Peer,
        in file: StoreFile
    ) -> String? {
        if let seconds = request.confirmSeconds {
            let pending = PendingConfirmation(
                deadline: Date().addingTimeInterval(Double(seconds)), previous: onDisk, requestedBy: peer.description)
            do {
                try file.savePending(pending)
            } catch {
                return "cannot write the pending-confirmation journal (\(error))"
            }
            _ = confirmation.begin(deadline: pending.deadline, previousStore: onDisk, previousDynamic: previousDynamic)
        }
        guard plan.storeChanged else { return nil }
        do {
            try file.save(plan.result.store)
            policy.wrote(plan.result.store, to: file)
            return nil
        } catch {
            if request.confirmSeconds != nil {
                perform(confirmation.end())
                try? file.removePending()
            }
            return "cannot write the store (\(error))"
        }
    }

    /// The lockout guard: an unconfirmed change is undone — store and ruleset — even if the client
    /// that made it is long gone (its SSH session cut by the new policy).
    func rollbackIfUnconfirmed(_ token: Int) {
        guard let pending = confirmation.waiting(token) else { return }
        logger.warning("change not confirmed in time: rolling back to the previous policy")
        let ruleset = compiler.compile(
            pending.previousStore, dynamic: pending.previousDynamic, addresses: addresses, at: wallNow)
        guard case .success = apply(.policy(ruleset), reason: "rollback of an unconfirmed change") else {
            report(.confirm, "rollback: the kernel rejected the previous ruleset; retrying in 5 s")
            schedule(.confirmDeadline(token: token), after: .seconds(5))
            return
        }
        _ = confirmation.end()
        do {
            try storeFile.withExclusiveLock {
                try storeFile.save(pending.previousStore)
                try storeFile.removePending()
            }
            clearProblem(.confirm)
        } catch {
            report(.confirm, "rollback: the previous ruleset is enforced but the store could not be written: \(error)")
        }
        adopt(pending.previousStore, dynamic: pending.previousDynamic, .rolledBack)
    }

    /// The store and dynamic state of a ruleset just applied become the engine's: charon gets
    /// their negotiate filters, and the schedules they use are followed.
    func adopt(_ store: Store, dynamic: DynamicState, _ state: StoreState) {
        policy.replace(store, dynamic: dynamic, state)
        planScheduleCheck()
        syncIPsec()
    }
}
