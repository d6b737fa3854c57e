import ArgumentParser
import Dispatch
import FoundationEssentials
import Glibc
import RampartCompiler
import RampartFleet
import RampartPolicy
import RampartSystem

/// `rampart domain`: publish and inspect the domain policies that rampartd hosts follow
/// (docs/fleet.md), the Group Policy side of Rampart.
struct Domain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "domain",
        abstract: "Publish and inspect domain policies in etcd (the fleet's Group Policy).",
        discussion:
            "Connection options default to $RAMPART_ETCD_ENDPOINTS, $RAMPART_ETCD_CA, $RAMPART_ETCD_CERT, $RAMPART_ETCD_KEY, $RAMPART_ETCD_USER and $RAMPART_ETCD_PASSWORD_FILE. See docs/fleet.md.",
        subcommands: [Push.self, ShowPolicy.self, History.self, Diff.self, Rollback.self, HostStatus.self])
}

struct EtcdOptions: ParsableArguments {
    @Option(help: ArgumentHelp("etcd endpoints, comma-separated (https://HOST:PORT).", valueName: "URLS"))
    var endpoints: String?
    @Option(help: ArgumentHelp("The CA certificate etcd's server certificate is checked against.", valueName: "FILE"))
    var cacert: String?
    @Option(help: ArgumentHelp("This client's certificate (PEM).", valueName: "FILE"))
    var cert: String?
    @Option(help: ArgumentHelp("This client's key (PEM).", valueName: "FILE"))
    var key: String?
    @Option(help: ArgumentHelp("The etcd user (RBAC through the gateway is by user and password).", valueName: "NAME"))
    var user: String?
    @Option(
        name: .customLong("password-file"),
        help: ArgumentHelp("A file whose first line is the user's password.", valueName: "FILE"))
    var passwordFile: String?
    @Option(help: ArgumentHelp("The key prefix (default \(FleetKeys.defaultPrefix)).", valueName: "PREFIX"))
    var prefix: String?
    @Option(help: ArgumentHelp("The group of hosts.", valueName: "NAME"))
    var group: String

    @Flag(name: .long, help: "Print results as JSON.")
    var json = false

    func validate() throws {
        guard FleetKeys.validName(group) else {
            throw ValidationError("--group '\(group)': letters, digits, '-', '_' and '.' only, at most 64")
        }
    }

    var keys: FleetKeys { FleetKeys(prefix: prefix ?? env("RAMPART_ETCD_PREFIX") ?? FleetKeys.defaultPrefix) }
    var policyKey: String { keys.policy(group: group) }

    private func env(_ name: String) -> String? {
        guard let v = getenv(name) else { return nil }
        let s = String(cString: v)
        return s.isEmpty ? nil : s
    }

    func client() throws -> EtcdClient {
        guard let list = endpoints ?? env("RAMPART_ETCD_ENDPOINTS") else {
            printError("rampart: error: no etcd endpoint: give --endpoints or set RAMPART_ETCD_ENDPOINTS")
            throw ExitCode.failure
        }
        var password: String?
        if let file = passwordFile ?? env("RAMPART_ETCD_PASSWORD_FILE") {
            do {
                let text = String(decoding: try StoreFile.readRegularFile(file, what: "password file"), as: UTF8.self)
                password = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
            } catch {
                printError("rampart: error: \(error)")
                throw ExitCode.failure
            }
        }
        let settings = EtcdSettings(
            endpoints: list.split(separator: ",").map { String($0.trimming()) },
            caFile: cacert ?? env("RAMPART_ETCD_CA"), certificateFile: cert ?? env("RAMPART_ETCD_CERT"),
            keyFile: key ?? env("RAMPART_ETCD_KEY"), user: user ?? env("RAMPART_ETCD_USER"), password: password)
        do {
            return try EtcdClient(settings: settings)
        } catch {
            printError("rampart: error: \(error)")
            throw ExitCode.failure
        }
    }

    /// Runs etcd work from the synchronous command line; an etcd error is printed and fails the command.
    func run<T: Sendable>(_ body: @escaping @Sendable (EtcdClient) async throws -> T) throws -> T {
        let etcd = try client()
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        Task {
            do { box.result = .success(try await body(etcd)) } catch { box.result = .failure(error) }
            await etcd.shutdown()
            done.signal()
        }
        done.wait()
        switch box.result! {
        case .success(let value): return value
        case .failure(let error as EtcdError):
            printError("rampart: error: \(error)")
            throw ExitCode.failure
        case .failure(let error): throw error
        }
    }
}

/// Written once by the task, read after the semaphore: the semaphore orders the two.
private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

/// The checks `exec --dry-run` makes, for a domain script: parse, run on an empty store,
/// compile; errors name file:line:column.
func checkDomainScript(_ text: String, file: String, group: String) throws -> PolicyStore {
    let made = try parsed { () throws(Diagnostic) in try DomainScript.evaluate(text, file: file) }
    var store = Store()
    store.domain = DomainLayer(group: group, revision: 0, arrived: 0, cached: false, store: made)
    if let problem = RulesetLimits.problem(RulesetCompiler().compile(store)) {
        printError("rampart: error: \(file): \(problem)")
        printError("rampart: nothing was published")
        throw ExitCode.failure
    }
    return made
}

extension Domain {
    struct Push: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "push",
            abstract: "Check a netsh script as 'exec --dry-run' does, then publish it as the group's domain policy.",
            discussion:
                "The write is a compare-and-swap on the revision read (or --expect-revision): if another admin pushed meanwhile, nothing is written. A registry or LDIF export of a Windows policy store is published as the netsh script of its objects (what 'rampart import --netsh' prints)."
        )

        @OptionGroup var etcd: EtcdOptions
        @Option(
            name: .customLong("expect-revision"),
            help: ArgumentHelp(
                "Write only if the policy is still at this revision (0: not yet published).", valueName: "N"))
        var expectRevision: Int64?
        @Argument(help: "The netsh script ('-' for standard input), or a Windows registry or LDIF export.")
        var file: String

        func run() throws {
            let name = file == "-" ? "<stdin>" : file
            let input = try readInput(file)
            let text =
                try WindowsStore.kind(input).map { try WindowsStore.netshScript($0, text: input, file: name) } ?? input
            let made = try checkDomainScript(text, file: name, group: etcd.group)
            let key = etcd.policyKey, expected = expectRevision
            let outcome: (Int64, Int64?) = try etcd.run { (client: EtcdClient) async throws -> (Int64, Int64?) in
                let base: Int64
                if let expected {
                    base = expected
                } else {
                    base = try await client.range(key).kvs.first?.modRevision ?? 0
                }
                return (base, try await client.put(key, Array(text.utf8), ifModRevision: base))
            }
            guard let revision = outcome.1 else {
                printError(
                    "rampart: error: the domain policy of group '\(etcd.group)' changed after revision \(outcome.0) was read; nothing was written (see 'rampart domain diff --group \(etcd.group)', then push again)"
                )
                throw ExitCode.failure
            }
            let policy = made.assignedPolicy?.name ?? "?"
            if etcd.json {
                let fields: [(String, JSONValue)] = [
                    ("group", .string(etcd.group)), ("revision", .int(Int(revision))),
                    ("previous", .int(Int(outcome.0))), ("policy", .string(policy))
                ]
                print(JSONValue.object(fields).rendered())
            } else {
                let replaces: String = outcome.0 == 0 ? " (first)" : " (replaces \(outcome.0))"
                print("group '\(etcd.group)': policy '\(policy)' published at revision \(revision)" + replaces)
            }
        }
    }

    struct ShowPolicy: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show", abstract: "Print the group's domain policy script and its revision.")

        @OptionGroup var etcd: EtcdOptions
        @Option(help: ArgumentHelp("The policy as it was at this etcd revision.", valueName: "N"))
        var revision: Int64?

        func run() throws {
            let key = etcd.policyKey, at = revision
            let kv: EtcdKeyValue? = try etcd.run { (client: EtcdClient) async throws -> EtcdKeyValue? in
                try await client.range(key, revision: at).kvs.first
            }
            guard let kv else {
                let when: String = at.map { " at revision \($0)" } ?? ""
                printError("rampart: error: group '\(etcd.group)' has no domain policy" + when + " (" + key + ")")
                throw ExitCode.failure
            }
            if etcd.json {
                let fields: [(String, JSONValue)] = [
                    ("group", .string(etcd.group)), ("key", .string(key)), ("revision", .int(Int(kv.modRevision))),
                    ("version", .int(Int(kv.version))), ("script", .string(kv.text))
                ]
                print(JSONValue.object(fields).rendered())
            } else {
                printError("# group '\(etcd.group)', revision \(kv.modRevision) (version \(kv.version)), \(key)")
                print(kv.text, terminator: kv.text.hasSuffix("\n") ? "" : "\n")
            }
        }
    }

    /// Revisions of the policy key, newest first, read back through etcd's MVCC history until
    /// the key did not exist or the history is compacted.
    static func history(
        _ client: EtcdClient, key: String, limit: Int
    ) async throws -> (entries: [EtcdKeyValue], compacted: Bool) {
        var out: [EtcdKeyValue] = []
        var at: Int64? = nil
        while out.count < limit {
            let kv: EtcdKeyValue?
            do {
                kv = try await client.range(key, revision: at).kvs.first
            } catch {
                // Typed: error is an EtcdError.
                if error.kind == .compacted { return (out, true) }
                throw error
            }
            guard let kv, kv.modRevision > 0 else { break }
            out.append(kv)
            guard kv.version > 1, kv.modRevision > 1 else { break }
            at = kv.modRevision - 1
        }
        return (out, false)
    }

    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "history",
            abstract: "The revisions of the group's domain policy, newest first.")

        @OptionGroup var etcd: EtcdOptions
        @Option(help: "At most this many revisions.")
        var limit = 20

        func run() throws {
            let key = etcd.policyKey, limit = limit
            let found: (entries: [EtcdKeyValue], compacted: Bool) = try etcd.run {
                (client: EtcdClient) async throws -> (entries: [EtcdKeyValue], compacted: Bool) in
                try await Domain.history(client, key: key, limit: limit)
            }
            let entries = found.entries, compacted = found.compacted
            var rows: [HistoryRow] = []
            for kv in entries {
                var policy = "(does not check)"
                if let made = try? DomainScript.evaluate(kv.text, file: "r\(kv.modRevision)"),
                    let name = made.assignedPolicy?.name
                {
                    policy = name
                }
                rows.append(
                    HistoryRow(revision: kv.modRevision, version: kv.version, bytes: kv.value.count, policy: policy))
            }
            if etcd.json {
                var items: [JSONValue] = []
                for r in rows { items.append(r.json) }
                var document: [(String, JSONValue)] = []
                document.append(("group", JSONValue.string(etcd.group)))
                document.append(("compacted", JSONValue.bool(compacted)))
                document.append(("revisions", JSONValue.array(items)))
                print(JSONValue.object(document).rendered())
                return
            }
            guard !rows.isEmpty else {
                print("group '\(etcd.group)' has no domain policy")
                return
            }
            print("REVISION  VERSION  BYTES  POLICY")
            for r in rows { print(r.line) }
            if compacted { print("(older revisions are compacted away)") }
        }
    }

    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "diff",
            abstract:
                "Compare two revisions of the group's domain policy (default: the one before the newest, and the newest)."
        )

        @OptionGroup var etcd: EtcdOptions
        @Argument(help: "The older revision.")
        var from: Int64?
        @Argument(help: "The newer revision (default: the newest).")
        var to: Int64?

        func run() throws {
            let key = etcd.policyKey, from = from, to = to
            let (a, b): (EtcdKeyValue?, EtcdKeyValue?) = try etcd.run {
                (client: EtcdClient) async throws -> (EtcdKeyValue?, EtcdKeyValue?) in
                let newer = try await client.range(key, revision: to).kvs.first
                if let from { return (try await client.range(key, revision: from).kvs.first, newer) }
                guard let newer, newer.version > 1 else { return (nil, newer) }
                return (try await client.range(key, revision: newer.modRevision - 1).kvs.first, newer)
            }
            guard let b else {
                let when: String = to.map { " at revision \($0)" } ?? ""
                printError("rampart: error: group '\(etcd.group)' has no domain policy" + when)
                throw ExitCode.failure
            }
            let older: String = a?.text ?? ""
            let olderName: String = a.map { "revision \($0.modRevision)" } ?? "(none)"
            let text: String = LineDiff.unified(older, b.text, from: olderName, to: "revision \(b.modRevision)")
            if text.isEmpty { print("no difference") } else { print(text, terminator: "") }
        }
    }

    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rollback",
            abstract: "Publish an earlier revision of the group's domain policy again, as a new revision.",
            discussion:
                "The old script is checked again as 'domain push' checks it, and written with a compare-and-swap on the newest revision."
        )

        @OptionGroup var etcd: EtcdOptions
        @Option(help: ArgumentHelp("The revision to go back to.", valueName: "N"))
        var to: Int64

        func run() throws {
            let key = etcd.policyKey, target = to
            let (old, current): (EtcdKeyValue?, EtcdKeyValue?) = try etcd.run {
                (client: EtcdClient) async throws -> (EtcdKeyValue?, EtcdKeyValue?) in
                let old = try await client.range(key, revision: target).kvs.first
                let current = try await client.range(key).kvs.first
                return (old, current)
            }
            guard let old, let current else {
                printError("rampart: error: group '\(etcd.group)' had no domain policy at revision \(target)")
                throw ExitCode.failure
            }
            _ = try checkDomainScript(old.text, file: "revision \(old.modRevision)", group: etcd.group)
            let base = current.modRevision
            let value = old.value
            let written: Int64? = try etcd.run { (client: EtcdClient) async throws -> Int64? in
                try await client.put(key, value, ifModRevision: base)
            }
            guard let written else {
                printError("rampart: error: the domain policy changed while rolling back; nothing was written")
                throw ExitCode.failure
            }
            print(
                "group '\(etcd.group)': revision \(old.modRevision) published again at revision \(written) (replaces \(base))"
            )
        }
    }
}

extension Domain {
    struct HostStatus: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract:
                "Every host of the group that reported in its lease's time, the revision it enforces, and whether it has converged.",
            discussion: "Exits 0 when every host listed enforces the newest revision, 1 otherwise.")

        @OptionGroup var etcd: EtcdOptions

        func run() throws {
            let key = etcd.policyKey, prefix = etcd.keys.statusPrefix(group: etcd.group)
            let read: (EtcdKeyValue?, [EtcdKeyValue]) = try etcd.run {
                (client: EtcdClient) async throws -> (EtcdKeyValue?, [EtcdKeyValue]) in
                let policy = try await client.range(key).kvs.first
                let hosts = try await client.range(prefix, prefix: true).kvs
                return (policy, hosts)
            }
            let newest: Int64? = read.0?.modRevision
            var rows: [HostRow] = []
            for kv in read.1 {
                var row = HostRow(host: String(kv.key.dropFirst(prefix.count)))
                if let report = try? JSONDecoder().decode(HostReport.self, from: Data(kv.value)) {
                    row.revision = report.revision
                    row.health = report.health
                    row.applied = report.applied
                    row.error = report.error.map { "revision \(report.refusedRevision ?? 0) refused: \($0)" }
                    row.cut = report.cutSessions ?? []
                } else {
                    row.error = "unreadable status key"
                }
                row.converged = newest != nil && row.revision == newest
                rows.append(row)
            }
            if etcd.json {
                var items: [JSONValue] = []
                for r in rows { items.append(r.json) }
                var document: [(String, JSONValue)] = []
                document.append(("group", JSONValue.string(etcd.group)))
                document.append(("revision", newest.map { JSONValue.int(Int($0)) } ?? JSONValue.null))
                document.append(("hosts", JSONValue.array(items)))
                print(JSONValue.object(document).rendered())
            } else {
                let head: String = newest.map { "revision \($0)" } ?? "no domain policy"
                print(
                    "group '\(etcd.group)': \(head); \(rows.filter(\.converged).count) of \(rows.count) hosts converged"
                )
                print("HOST                 REVISION  CONVERGED  HEALTH    APPLIED               ERROR")
                for r in rows { print(r.line) }
            }
            if rows.contains(where: { !$0.converged }) { throw ExitCode.failure }
        }
    }
}

struct HostRow {
    var host: String
    var revision: Int64?
    var health = "?"
    var applied: String?
    var error: String?
    var converged = false
    var cut: [String] = []

    init(host: String) { self.host = host }

    var json: JSONValue {
        var fields: [(String, JSONValue)] = []
        fields.append(("host", JSONValue.string(host)))
        fields.append(("revision", revision.map { JSONValue.int(Int($0)) } ?? JSONValue.null))
        fields.append(("converged", JSONValue.bool(converged)))
        fields.append(("health", JSONValue.string(health)))
        fields.append(("applied", applied.map { JSONValue.string($0) } ?? JSONValue.null))
        fields.append(("error", error.map { JSONValue.string($0) } ?? JSONValue.null))
        fields.append(("cutSessions", JSONValue.array(cut.map { JSONValue.string($0) })))
        return JSONValue.object(fields)
    }

    var line: String {
        let revisionText: String = revision.map { String($0) } ?? "-"
        let convergedText: String = converged ? "yes" : "NO"
        var text =
            HistoryRow.pad(host, 20) + " " + HistoryRow.pad(revisionText, 9) + " " + HistoryRow.pad(convergedText, 10)
        text += " " + HistoryRow.pad(health, 9) + " " + HistoryRow.pad(applied ?? "-", 21)
        if let error { text += " " + error }
        for c in cut { text += "\n" + HistoryRow.pad("", 20) + " " + c }
        return text
    }
}

struct HistoryRow {
    var revision: Int64
    var version: Int64
    var bytes: Int
    var policy: String

    var json: JSONValue {
        var fields: [(String, JSONValue)] = []
        fields.append(("revision", JSONValue.int(Int(revision))))
        fields.append(("version", JSONValue.int(Int(version))))
        fields.append(("bytes", JSONValue.int(bytes)))
        fields.append(("policy", JSONValue.string(policy)))
        return JSONValue.object(fields)
    }

    var line: String {
        Self.pad(String(revision), 9) + " " + Self.pad(String(version), 8) + " " + Self.pad(String(bytes), 6) + " "
            + policy
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }
}
