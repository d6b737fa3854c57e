import ArgumentParser
import FoundationEssentials
import Glibc
import RampartCompiler
import RampartNetlink
import RampartControl
import RampartPolicy
import RampartReport
import RampartSystem

/// Options shared by the commands that compile: where dynamic addresses come from.
struct AddressOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp("A JSON snapshot of dynamic addresses (dns, wins, dhcp, gateway, names).", valueName: "FILE")
    )
    var addresses: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Compile the scheduled rules in force at this time instead of now (ISO 8601, e.g. 2026-12-07T09:30:00+01:00).",
            valueName: "TIME"))
    var at: String?

    /// The instant schedules are evaluated at. A one-shot apply takes the schedules' state of
    /// that moment; only rampartd follows their windows (docs/extensions.md).
    func instant() throws -> Date {
        guard let at else { return Date() }
        guard let date = try? Date(at, strategy: .iso8601) else {
            printError(
                "rampart: error: --at '\(at)' is not an ISO 8601 time such as 2026-12-07T09:30:00Z or 2026-12-07T09:30:00+01:00"
            )
            throw ExitCode.failure
        }
        return date
    }

    /// Says which server types and host names have no addresses in what this command compiles with.
    func warnEmpty(_ store: Store) throws {
        try warnEmpty(EffectiveFilters.collect(store, at: try instant()))
    }

    func warnEmpty(_ filters: [ActiveFilter]) throws {
        for w in EmptyAddresses.warnings(filters, addresses: try snapshot()) { printError("rampart: warning: \(w)") }
    }

    func snapshot() throws -> DynamicAddresses {
        guard let addresses else { return DynamicAddresses() }
        do {
            return try JSONDecoder().decode(DynamicAddresses.self, from: Data(readInput(addresses).utf8))
        } catch let error as DecodingError {
            printError(
                "rampart: error: \(addresses): not a dynamic-address snapshot (\(StoreCodec.describe(error))); a snapshot is a JSON object with any of \"dns\", \"wins\", \"dhcp\", \"gateway\" (lists of addresses) and \"names\" (host name to addresses), e.g. {\"dns\": [\"192.0.2.53\"], \"names\": {\"update.example.com\": [\"203.0.113.10\"]}}"
            )
            throw ExitCode.failure
        }
    }
}

extension Apply {
    /// The lockout guard of an interactive one-shot apply (rampart(8)): the established SSH
    /// sessions in this namespace through the new policy; one it would drop refuses the apply
    /// (there is no rollback without rampartd) unless --force. The table in force is not
    /// compared: every drop counts. Scripts (no terminal) are not asked.
    func refuseLockout(_ store: Store) throws {
        guard isatty(0) == 1, !forced(global) else { return }
        let found = Session.guarded(client: clientSessions()) { SourceFile.text($0, limit: 64 << 20) }
        guard !found.isEmpty else { return }
        let sessions = SessionGuard.onLinks(found, LocalAddresses.linkTypes())
        let after = ReferenceEvaluator(
            store: store, addresses: try addressOptions.snapshot(), host: Host(LocalAddresses.snapshot()),
            at: try addressOptions.instant())
        let cuts = SessionGuard.cuts(sessions, before: nil, after: after)
        guard !cuts.isEmpty else { return }
        printError("rampart: error: " + SessionGuard.refusal(cuts, retry: .testNamespace))
        throw ExitCode.failure
    }
}

/// Whether a rampartd answers at `socket` and enforces in this network namespace: a one-shot
/// apply or flush in another one (`ip netns exec test rampart apply`, to try a policy) touches
/// no table of its. When its namespace cannot be read (not root), it is taken to be this one.
func daemonEnforcesHere(socket: String) -> Bool {
    guard let reply = try? ControlClient.send(ControlRequest(op: .status), to: socket, timeoutSeconds: 10) else {
        return false
    }
    struct Status: Decodable { var pid: Int32 }
    guard let json = reply.json, let pid = try? JSONDecoder().decode(Status.self, from: Data(json.utf8)).pid,
        let theirs = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net"),
        let ours = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
    else { return true }
    return theirs == ours
}

func kernelFailure(_ error: NetlinkError) -> ExitCode {
    printError("rampart: error: \(error)")
    if error.errno == EPERM {
        printError("rampart: programming nftables needs CAP_NET_ADMIN (run as root)")
    }
    return ExitCode.failure
}

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Compile the store and apply it once, in one transaction, in this network namespace (no daemon).")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var addressOptions: AddressOptions

    @Flag(name: .long, help: "Apply the boot-mode ruleset instead of the policy.")
    var boot = false

    @Flag(
        name: .long,
        help:
            "Only refill the address sets (DNS, WINS, DHCP, gateway, host names) of the applied ruleset; rules and counters stay."
    )
    var setsOnly = false

    func validate() throws {
        if boot && setsOnly { throw ValidationError("--boot and --sets-only exclude each other") }
    }

    func run() throws {
        // With rampartd running, it owns the table and would undo a one-shot apply.
        if global.store == nil, daemonEnforcesHere(socket: global.socketPath) {
            printError(
                "rampart: error: rampartd is running and enforces the store; use 'rampart reload' (or 'systemctl reload rampartd')"
            )
            throw ExitCode.failure
        }
        let store = try loadStore(global.storeFile)
        let compiler = RulesetCompiler()
        // Collected once: the compiler and the empty-address warnings both need them (5 % of an apply).
        let filters = boot ? [] : EffectiveFilters.collect(store, at: try addressOptions.instant())
        let ruleset =
            boot
            ? compiler.compileBoot(store.config)
            : compiler.compile(store, filters: filters, addresses: try addressOptions.snapshot())
        if !boot && !setsOnly {
            try addressOptions.warnEmpty(filters)
            try refuseLockout(store)
        }
        do throws(NetlinkError) {
            let client = try NftablesClient()
            var report: NftablesClient.Report?
            let start = ContinuousClock.now
            if setsOnly {
                report = try client.replaceElements(of: ruleset.sets)
                let elapsed = ContinuousClock.now - start
                print(
                    "replaced the elements of \(ruleset.sets.count) sets (\(report!.setElements) elements) in one transaction, \(milliseconds(elapsed)) ms"
                )
                return
            }
            report = try client.apply(ruleset)
            let elapsed = ContinuousClock.now - start
            let ms = milliseconds(elapsed)
            print(
                "applied \(boot ? "boot mode \(store.config.bootMode.rawValue)" : "policy") to table inet rampart: \(report!.rules) rules, \(ruleset.setCount) sets (\(report!.setElements) elements), \(report!.messages) messages in one transaction, \(ms) ms"
            )
        } catch {
            throw kernelFailure(error)
        }
    }
}

struct Flush: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flush",
        abstract: "Remove table inet rampart (only it) from this network namespace.")

    @Option(
        name: .long,
        help: ArgumentHelp(
            "rampartd's control socket (default $RAMPART_SOCKET or /run/rampart/control.sock).", valueName: "PATH"))
    var socket: String?

    func run() throws {
        // rampartd would restore the table at once: it has to be stopped first.
        if daemonEnforcesHere(socket: controlSocketPath(option: socket)) {
            printError(
                "rampart: error: rampartd is running and would restore the table at once; stop it first ('systemctl stop rampartd')"
            )
            throw ExitCode.failure
        }
        do {
            let existed = try NftablesClient().deleteTable()
            print(existed ? "removed table inet rampart" : "table inet rampart was not present")
        } catch {
            throw kernelFailure(error)
        }
    }
}

struct Counters: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "counters",
        abstract: "Packet and byte counters of table inet rampart: one row per filter, by rank.",
        discussion: """
            Fixed rules (loopback, exemptions, invalid) come first, then every filter in the match \
            order of 'show active', its rules and set elements summed, with the IPv4 and IPv6 parts \
            as columns and LOG saying its drops are logged. Examples:
              rampart counters --nonzero
              rampart counters --top 10
              rampart counters --filter F16,F16m --json
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Only rows that counted packets.")
    var nonzero = false

    @Option(name: .long, help: ArgumentHelp("Only these filters (comma-separated ids).", valueName: "IDS"))
    var filter: String?

    @Option(name: .long, help: ArgumentHelp("The N rows with the most packets, most first.", valueName: "N"))
    var top: Int?

    func validate() throws {
        if let top, top < 1 { throw ValidationError("--top takes a number of rows from 1 up, e.g. --top 10") }
    }

    var options: CounterListing.Options {
        CounterListing.Options(
            nonzero: nonzero, filters: Set((filter ?? "").split(separator: ",").map(String.init)), top: top)
    }

    func run() throws {
        // Through rampartd when it runs: a group member cannot read the kernel's table.
        if try viaDaemon(ControlRequest(op: .counters, args: options.words), global: global, changes: false) {
            return
        }
        let counters: [RuleCounter]
        do {
            let client = try NftablesClient()
            guard try client.tableExists() else {
                printError("rampart: table inet rampart is not present (nothing applied in this namespace)")
                throw ExitCode.failure
            }
            counters = try client.ruleCounters() + client.elementCounters()
        } catch let error as NetlinkError {
            throw kernelFailure(error)
        }
        // Ranks and origins from the store, when it is readable.
        let rows = CounterListing.rows(
            counters, ranks: CounterListing.ranks((try? global.storeFile.load()) ?? Store()), options: options)
        if global.json {
            print(CounterListing.json(rows).rendered())
        } else {
            print(CounterListing.text(rows), terminator: "")
        }
    }
}

func milliseconds(_ d: Duration) -> String {
    // Tenths of a millisecond, rounded.
    let hundredths = d.components.seconds * 100_000 + d.components.attoseconds / 10_000_000_000_000
    let tenths = (hundredths + 5) / 10
    return "\(tenths / 10).\(tenths % 10)"
}
