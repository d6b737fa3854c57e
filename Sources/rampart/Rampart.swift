import ArgumentParser
import FoundationEssentials
import RampartCompiler
import RampartControl
import RampartIPsec
import RampartPolicy
import RampartReport
import RampartSystem
import RampartVici

struct Rampart: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rampart",
        abstract: "Host packet-filter policy in the netsh ipsec language, enforced with nftables.",
        discussion: """
            rampart speaks the grammar of Windows Server 2003's netsh ipsec static and netsh ipsec dynamic, so \
            existing scripts run nearly unchanged. Policies are made of rules; each rule binds a filter list to \
            a filter action (permit, block or negotiate), and whatever the order of the rules, the most specific \
            filter wins. A leading netsh, netsh.exe or ipsec word is accepted and ignored:

              rampart static add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=80
              rampart netsh ipsec dynamic set config bootmode block
              rampart exec web-server.netsh

            Static commands change the store (/var/lib/rampart/store.json; --store or RAMPART_STORE name \
            another). When rampartd runs, every command goes through its control socket and is applied to the \
            kernel at once; when it does not, static commands work on the store file and rampart apply enforces \
            it once. Every command line, script and batch file is one transaction: all of it is applied, or, on \
            the first error, nothing, and the error names file, line and column.

            Exit status: 0 on success; 1 on an error (nothing was changed); 3 from status, reload or confirm \
            when rampartd is not running; 64 on a usage error. \
            See rampartd(8), rampartd.conf(5), and /usr/share/doc/rampart (netsh-compatibility.md lists \
            every netsh command and parameter).
            """,
        version: RampartVersion.current,
        subcommands: [
            NetshStatic.self, NetshDynamic.self, Show.self, Exec.self, Import.self, Status.self, Confirm.self,
            Reload.self, Compile.self, Apply.self, Flush.self, Counters.self, Dump.self, Explain.self, Logs.self,
            Metrics.self, Monitor.self, SAs.self, Domain.self, UpgradeStore.self, ExportPolicy.self
        ]
    )
}

struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp("The store file (default $RAMPART_STORE or \(StoreFile.defaultPath)).", valueName: "FILE"))
    var store: String?

    @Flag(name: .long, help: "Print results as JSON.")
    var json = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The store location static commands start in (netsh starts in local).", valueName: "local|persistent"))
    var location: StoreLocation = .local

    @Option(
        name: .long,
        help: ArgumentHelp(
            "rampartd's control socket (default $RAMPART_SOCKET or /run/rampart/control.sock).", valueName: "PATH"))
    var socket: String?

    @Flag(
        name: .long,
        help: "Apply a change even if it would cut an established SSH session (also RAMPART_ASSUME_YES=1).")
    var force = false

    var storeFile: StoreFile { StoreFile.resolve(option: store) }

    var socketPath: String { controlSocketPath(option: socket) }
}

/// Strips the leading words Windows scripts carry (`netsh`, `netsh.exe`, `ipsec`) so that
/// `rampart netsh ipsec static …` and `rampart static …` are the same command.
func normalizedArguments(_ raw: [String]) -> [String] {
    var args = raw
    while let first = args.first, ["netsh", "netsh.exe", "ipsec"].contains(first.lowercased()) {
        args.removeFirst()
    }
    if let first = args.first,
        ["static", "dynamic", "dump", "show", "exec", "import", "compile", "apply", "flush", "counters", "explain"]
            .contains(first.lowercased())
    {
        args[0] = first.lowercased()
    }
    // `--since -1h` as journalctl takes it: a value that starts with '-' is the option's value,
    // not another option.
    for i in args.indices.dropLast().reversed()
    where ["--since", "--until"].contains(args[i]) && args[i + 1].hasPrefix("-") && args[i + 1].count > 1 {
        args[i] += "=" + args[i + 1]
        args.remove(at: i + 1)
    }
    return args
}

/// Completion of a netsh command line (NetshCompletion), with the names of the store this user can
/// read ($RAMPART_STORE or the default; none if it cannot be read).
func netshCompletion(_ context: CommandSpec.Context, _ arguments: [String], _ index: Int, _ prefix: String) -> [String]
{
    var words = Array(arguments.prefix(max(0, min(index, arguments.count))))
    if let at = words.lastIndex(where: { ["static", "dynamic"].contains($0.lowercased()) }) {
        words.removeFirst(at + 1)
    }
    words.removeAll { $0.hasPrefix("-") }
    return NetshCompletion.candidates(
        context: context, words: words, prefix: prefix, store: try? StoreFile.resolve(option: nil).load())
}

extension StoreLocation: ExpressibleByArgument {}
extension ScriptText.Encoding: ExpressibleByArgument {}

/// What differs between `rampart static …` and `rampart dynamic …`: the netsh context's name and
/// an example for the help.
protocol NetshCommandContext: SendableMetatype {
    static var context: CommandSpec.Context { get }
    static var example: String { get }
}

enum StaticContext: NetshCommandContext {
    static let context = CommandSpec.Context.static
    static let example = "add policy name=Web assign=yes"
}

enum DynamicContext: NetshCommandContext {
    static let context = CommandSpec.Context.dynamic
    static let example = "set config bootmode block"
}

/// One netsh command of a context, run through rampartd or on the store.
struct NetshCommand<Context: NetshCommandContext>: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "\(Context.context.rawValue)",
            abstract: "Run one 'netsh ipsec \(Context.context.rawValue)' command.")
    }

    @OptionGroup var global: GlobalOptions

    @Argument(
        parsing: .allUnrecognized, help: ArgumentHelp("The netsh command, e.g. \(Context.example)."),
        completion: .custom { arguments, index, prefix in netshCompletion(Context.context, arguments, index, prefix) })
    var words: [String] = []

    func run() throws {
        try runSingle(context: "\(Context.context.rawValue)", words: words, global: global)
    }
}

typealias NetshStatic = NetshCommand<StaticContext>
typealias NetshDynamic = NetshCommand<DynamicContext>

struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print the whole configuration as a netsh script that 'rampart exec' restores.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        if try viaDaemon(ControlRequest(op: .dump), global: global, changes: false) { return }
        let store = try loadStore(global.storeFile)
        print(ScriptWriter.dump(store), terminator: "")
    }
}

struct UpgradeStore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upgrade-store",
        abstract: "Rewrite the store file in the current format version (loading never rewrites it).")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let file = global.storeFile
        do {
            try file.withExclusiveLock {
                guard file.exists else {
                    print("no store at \(file.path); nothing to upgrade")
                    return
                }
                let declared = try StoreCodec.declaredVersion(try StoreFile.readRegularFile(file.path, what: "store"))
                let store = try file.load()
                guard declared < StoreCodec.version else {
                    print("store \(file.path) is format version \(declared) already")
                    return
                }
                try file.save(store)
                let filters = StoreLocation.allCases.reduce(0) { n, l in
                    n + store[l].filterLists.reduce(0) { $0 + $1.filters.count }
                }
                print("store \(file.path): format version \(declared) → \(StoreCodec.version) (\(filters) filters)")
            }
        } catch let error as StoreError {
            printError("rampart: error: \(error)")
            throw ExitCode.failure
        }
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract:
            "Show stored objects ('show all', 'show policy NAME', …), the effective ordered filter list ('show active'), or IPsec's SAs and statistics ('show mmsas', 'show qmsas', 'show stats')."
    )

    @OptionGroup var global: GlobalOptions

    @Option(
        name: .long,
        help: ArgumentHelp("show active: skip this many filters (the first shown has rank N+1).", valueName: "N"))
    var offset: Int?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "show active: show at most this many filters (a group member gets 500 at most).", valueName: "N"))
    var limit: Int?

    @Argument(
        parsing: .allUnrecognized,
        help:
            "all | policy | filterlist | filteraction | rule | store | active | dynamic | mmsas | qmsas | stats, with netsh parameters."
    )
    var words: [String] = []

    func run() throws {
        if words.first?.lowercased() == "dynamic" {
            _ = try viaDaemon(ControlRequest(op: .dynamic), global: global, changes: false, required: true)
            return
        }
        if words.first?.lowercased() == "active" {
            guard (offset ?? 0) >= 0, (limit ?? 0) >= 0 else {
                printError("rampart: error: --offset and --limit take a whole number, 0 or more")
                throw ExitCode.validationFailure
            }
            let page = ListingPage(offset: offset ?? 0, limit: limit)
            if try viaDaemon(ControlRequest(op: .active, args: page.words), global: global, changes: false) { return }
            let store = try loadStore(global.storeFile)
            let filters = Ordering.display(EffectiveFilters.collect(store))
            let range = page.range(total: filters.count)
            if global.json {
                print(ActiveListing.json(filters[range], firstRank: range.lowerBound + 1).rendered())
            } else {
                print(ActiveListing.text(filters[range], firstRank: range.lowerBound + 1), terminator: "")
            }
            if let note = ListingPage.note(range, total: filters.count, command: "rampart show active") {
                printError(note)
            }
            return
        }
        // The IP Security Monitor's SA views and statistics are netsh's dynamic ones.
        if let first = words.first?.lowercased(), ["mmsas", "qmsas", "stats"].contains(first) {
            try runSingle(context: "dynamic", words: ["show"] + words, global: global)
            return
        }
        try runSingle(context: "static", words: ["show"] + words, global: global)
    }
}

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run a netsh script file as one transaction: all of it is applied, or none of it.")

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Check the script against the store and report; write nothing.")
    var dryRun = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Roll the change back unless 'rampart confirm' follows within this many seconds, 1 to 86400 (needs rampartd).",
            valueName: "SECONDS"))
    var confirm: Int?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The file's encoding: auto (a BOM, else UTF-16 by its NULs, else UTF-8), utf-8, utf-16le, utf-16be, gbk, gb18030, big5, shift_jis, cp932, euc-kr, latin1, cp1250 to cp1258.",
            valueName: "NAME"))
    var encoding: ScriptText.Encoding = .auto

    @Argument(help: "The script file ('-' for standard input).")
    var file: String

    func validate() throws {
        if let confirm, !(1...86_400).contains(confirm) {
            throw ValidationError("--confirm takes 1 to 86400 seconds (a day), not \(confirm)")
        }
    }

    func run() throws {
        let text = try readInput(file, encoding: encoding)
        let name = file == "-" ? "<stdin>" : file
        let script = try parsed { () throws(Diagnostic) in try ScriptPlan.exec(text, file: name) }
        let request = ControlRequest(
            op: .exec, name: name, script: text, dryRun: dryRun, confirmSeconds: confirm,
            location: global.location.rawValue)
        if try viaDaemon(request, global: global, changes: !dryRun && !script.isQuery) { return }
        if confirm != nil {
            printError("rampart: error: --confirm needs rampartd, which holds the rollback; it is not running")
            throw ExitCode.failure
        }
        try transaction(script, global: global, dryRun: dryRun)
    }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract:
            "Import a Windows policy as one transaction: a .bat/.cmd file's netsh commands (and reg add lines for the policy store), or a registry (.reg) or LDIF export of Windows' IPsec policy store.",
        discussion: """
            A registry export of HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\IPSec\\Policy\\Local \
            (regedit or 'reg export', any version and encoding) or an LDIF export of \
            CN=IP Security,CN=System (ldifde -f, ldapsearch) becomes the store objects the \
            equivalent netsh commands make; --netsh prints those commands instead. Examples:
              rampart import lockdown.bat
              rampart import --netsh policy.reg > policy.netsh
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Check the batch file against the store and report; write nothing.")
    var dryRun = false

    @Flag(
        name: .long,
        help:
            "Print the netsh commands found, each after a '# FILE:LINE' comment, as a script for 'rampart exec'; change nothing."
    )
    var extract = false

    @Flag(
        name: .long,
        help:
            "For a registry or LDIF export: print the equivalent netsh script (each object's GUID and whenChanged in its first lines) for review or 'rampart exec'; change nothing."
    )
    var netsh = false

    @Option(
        name: .long, parsing: .singleValue,
        help: ArgumentHelp("Set a batch variable (%NAME%).", valueName: "NAME=VALUE"))
    var define: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The file's encoding (see 'exec --help'); the default finds UTF-16 as Windows writes it.", valueName: "NAME"
        ))
    var encoding: ScriptText.Encoding = .auto

    @Argument(help: "The batch file, registry export or LDIF export.")
    var file: String

    func run() throws {
        var defines: [String: String] = [:]
        for d in define {
            guard let eq = d.firstIndex(of: "="), eq != d.startIndex else {
                throw ValidationError("--define needs NAME=VALUE, got '\(d)'")
            }
            defines[String(d[..<eq])] = String(d[d.index(after: eq)...])
        }
        if file.lowercased().hasSuffix(".ipsec") {
            printError("rampart: error: " + WindowsStore.ipsecFileRefusal(file))
            throw ExitCode.failure
        }
        let text = try readInput(file, encoding: encoding)
        if let kind = WindowsStore.kind(text) {
            try importWindowsStore(kind, text: text)
            return
        }
        let path = ScriptPlan.scriptPath(file, workingDirectory: FileManager.default.currentDirectoryPath)
        if !extract, let batch = try? ScriptPlan.batch(text, file: file, defines: defines, scriptPath: path),
            !batch.registry.isEmpty
        {
            try importRegistryBatch(batch, text: text, defines: defines, scriptPath: path)
            return
        }
        if netsh {
            printError(
                "rampart: error: --netsh is for registry and LDIF exports; for a batch file, --extract prints its netsh commands"
            )
            throw ExitCode.failure
        }
        if extract {
            print(
                try parsed { () throws(Diagnostic) in
                    try ScriptPlan.extract(text, file: file, defines: defines, scriptPath: path)
                }, terminator: "")
            return
        }
        let planned = try parsed { () throws(Diagnostic) in
            try ScriptPlan.import(text, file: file, defines: defines, scriptPath: path)
        }
        let request = ControlRequest(
            op: .`import`, name: file, script: text, dryRun: dryRun, defines: defines,
            location: global.location.rawValue)
        if try viaDaemon(request, global: global, changes: !dryRun && !planned.script.isQuery) { return }
        for s in planned.skipped {
            print(s.listing)
        }
        try transaction(planned.script, global: global, dryRun: dryRun)
        let count = planned.script.commands.count
        print(
            "\(file): \(count) netsh command\(count == 1 ? "" : "s") \(dryRun ? "checked" : "applied"), \(planned.skipped.count) other line\(planned.skipped.count == 1 ? "" : "s") followed or skipped"
        )
    }
}

struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compile",
        abstract: "Compile the store into the nftables ruleset of table inet rampart (nothing is applied).")

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Print an nft script (the default).")
    var nft = false

    @Flag(name: .long, help: "Compile the boot-mode ruleset instead of the policy.")
    var boot = false

    @OptionGroup var addressOptions: AddressOptions

    func run() throws {
        let store = try loadStore(global.storeFile)
        let snapshot = try addressOptions.snapshot()
        let compiler = RulesetCompiler()
        let ruleset =
            boot
            ? compiler.compileBoot(store.config)
            : compiler.compile(store, addresses: snapshot, at: try addressOptions.instant())
        if !boot { try addressOptions.warnEmpty(store) }
        if global.json {
            print(NftRenderer.json(ruleset).rendered())
        } else {
            let what = boot ? "boot mode \(store.config.bootMode.rawValue)" : "policy"
            print(
                NftRenderer.script(ruleset, header: "rampart compile: \(what) ruleset (\(ruleset.ruleCount) rules)"),
                terminator: "")
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "What rampartd is doing: boot mode, store, policies, last apply, problems.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        if try viaDaemon(ControlRequest(op: .status), global: global, changes: false, required: true) { return }
    }
}

struct Metrics: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract:
            "rampartd's metrics as Prometheus text: per-filter packets and bytes, logged drops, sets, applies, health.",
        discussion:
            "rampartd.conf's metrics_textfile writes the same for node_exporter's textfile collector. See docs/metrics.md."
    )

    @OptionGroup var global: GlobalOptions

    @Flag(help: "OpenMetrics 1.0 text instead (counter families without _total, # UNIT, # EOF).")
    var openmetrics = false

    func run() throws {
        _ = try viaDaemon(
            ControlRequest(op: .metrics, args: openmetrics ? ["openmetrics"] : nil), global: global, changes: false,
            required: true)
    }
}

struct SAs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sas",
        abstract:
            "The IPsec security associations strongSwan's charon holds: main mode (IKE_SAs) and quick mode (CHILD_SAs).",
        discussion:
            "Asks charon over its VICI socket (root, or the socket's group). Rampart's own connections are named rampart-STORE+RULE, their CHILD_SAs after the filter. See docs/ipsec.md."
    )

    @Option(help: ArgumentHelp("charon's VICI socket.", valueName: "PATH"))
    var vici = IPsecView.defaultSocket

    @Flag(help: "Only rampart's connections.")
    var own = false

    func run() throws {
        var view = IPsecView.gather(socket: vici)
        if own { view = view.own() }
        guard view.listing != nil else {
            printError("rampart: error: \(view.charonError ?? "charon did not answer")")
            throw ExitCode.failure
        }
        print(view.mainModeText() + "\n" + view.quickModeText(), terminator: "")
    }
}

struct Confirm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "confirm",
        abstract: "Keep the change made with 'rampart exec --confirm SECONDS'.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        _ = try viaDaemon(ControlRequest(op: .confirm), global: global, changes: true, required: true)
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Ask rampartd to re-read its configuration and the store and apply them (as SIGHUP does).")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        _ = try viaDaemon(ControlRequest(op: .reload), global: global, changes: true, required: true)
    }
}

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract:
            "What the policy does to one packet, which filter decides, and the nearest filters before it that did not match.",
        discussion: """
            PACKET is: in|out PROTO SOURCE [to] DESTINATION, PROTO tcp, udp, icmp or a number, an \
            endpoint ADDRESS:PORT, [IPV6]:PORT, or me[:PORT] (ports with tcp and udp only; esp and ah name 50 and 51); '->' \
            may stand for 'to' when quoted (a shell takes '>' as a redirection). Examples:
              rampart explain in tcp 198.51.100.7:51000 to me:3389
              rampart explain out udp me:40000 '->' 192.0.2.53:53
              rampart explain in icmp 2001:db8::7 me --icmp-type 128
              rampart explain in tcp 192.0.2.20:51000 to me:5001 --ipsec
            With rampartd running the answer is for what it enforces (its dynamic rules, server \
            types and host names as it resolved them); otherwise for the store file, with the \
            addresses of --addresses.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var addressOptions: AddressOptions

    @Option(name: .long, help: "The ICMP type (default: echo request, 8 or 128).")
    var icmpType: UInt8?

    @Flag(
        name: .long,
        help:
            "The packet came (or goes) through an IPsec SA: both passes are explained, the encrypted packet's (ESP) and the clear one's."
    )
    var ipsec = false

    @Flag(name: .customLong("nat-t"), help: "With --ipsec: the SA's ESP travels in UDP 4500 (NAT traversal).")
    var natTraversal = false

    @Option(name: .long, help: "TCP flags, joined by + (default: syn).")
    var tcpFlags: String?

    @Option(name: .long, help: "The interface it arrives on (in) or leaves by (out); lo is never filtered.")
    var interface: String?

    @Option(
        name: .long,
        help: "The connection's state as conntrack sees it: new (default), established, related or invalid.")
    var state: String?

    @Option(
        name: .long,
        help:
            "The kind of interface, for rules with conntype=: lan (default: Ethernet, Wi-Fi, bridges, veth) or dialup (PPP, tun, WireGuard, tunnels)."
    )
    var conntype: String?

    @Option(
        name: .long,
        help:
            "IPv6's hop limit as it arrives (default 255: sent on this link; neighbour discovery is exempt only with 255)."
    )
    var hopLimit: UInt8?

    @Flag(
        name: .long,
        help:
            "Every filter considered before the deciding one, in order (default: the nearest few that did not match)."
    )
    var all = false

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("The packet.", valueName: "PACKET"))
    var packet: [String] = []

    func run() throws {
        var words = packet
        if all { words.append("all") }
        if let icmpType { words.append("icmp-type=\(icmpType)") }
        if ipsec || natTraversal { words.append("ipsec") }
        if natTraversal { words.append("nat-t") }
        if let interface { words.append("interface=\(interface)") }
        if let tcpFlags { words.append("flags=\(tcpFlags)") }
        if let hopLimit { words.append("hoplimit=\(hopLimit)") }
        if let state { words.append("state=\(state)") }
        if let conntype { words.append("conntype=\(conntype)") }
        // --at asks about another time than the daemon's now: answered from the store file.
        if addressOptions.addresses == nil, addressOptions.at == nil,
            try viaDaemon(ControlRequest(op: .explain, args: words), global: global, changes: false)
        {
            return
        }
        let store = try loadStore(global.storeFile)
        switch ExplainRun.run(
            words, store: store, dynamic: nil, addresses: try addressOptions.snapshot(),
            host: Host(LocalAddresses.snapshot()), at: try addressOptions.instant())
        {
        case .success(let (text, json)):
            print(global.json ? json.rendered() : text, terminator: global.json ? "\n" : "")
        case .failure(let failure):
            printError("rampart: error: explain: \(failure)")
            throw ExitCode.failure
        }
    }
}
