// Benchmarks rampart's netlink apply against `nft -f` of the same rendered ruleset, each run in a
// fresh network namespace. Prints medians and ratios as a Markdown table (docs/benchmarks.md).
//   swift build -c release && .build/release/rampart-bench [--runs N] [--rampart PATH]
import Foundation
#if canImport(Glibc)
    import Glibc
#endif
import RampartCompiler
import RampartNetlink
import RampartPolicy
import RampartSystem
import RampartReport
import CNetfilter
import RampartNamespaceKit
import RampartTestKit
import RampartSyscall

var runs = 7
var idleSeconds = 60
var floodSeconds = 3
var churnSeconds = 3600
var churnFilters = 100_000
var packetCases: Set<String>?
var sections: Set<String> = ["apply", "daemon", "sources"]
let binDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
var rampartBinary = binDirectory.appendingPathComponent("rampart").path
var rampartdBinary = binDirectory.appendingPathComponent("rampartd").path
var arguments = CommandLine.arguments.dropFirst()
while let a = arguments.popFirst() {
    switch a {
    case "--runs": runs = Int(arguments.popFirst() ?? "") ?? runs
    case "--idle-seconds": idleSeconds = Int(arguments.popFirst() ?? "") ?? idleSeconds
    case "--only": sections = [arguments.popFirst() ?? ""]
    case "--rampart": rampartBinary = arguments.popFirst() ?? rampartBinary
    case "--rampartd": rampartdBinary = arguments.popFirst() ?? rampartdBinary
    case "--churn-seconds": churnSeconds = Int(arguments.popFirst() ?? "") ?? churnSeconds
    case "--churn-filters": churnFilters = Int(arguments.popFirst() ?? "") ?? churnFilters
    case "--flood-seconds": floodSeconds = Int(arguments.popFirst() ?? "") ?? floodSeconds
    case "--fixture":
        // The synthetic policy of N filters as a netsh script, for profiling by hand.
        print(Fixtures.synthetic(filters: Int(arguments.popFirst() ?? "") ?? 1_000), terminator: "")
        exit(0)
    case "--cases": packetCases = Set((arguments.popFirst() ?? "").split(separator: ",").map(String.init))
    default:
        FileHandle.standardError.write(
            Data(
                "usage: rampart-bench [--runs N] [--idle-seconds S] [--only apply|daemon|sources|packets|stages|commands|flood|edits|churn] [--flood-seconds S] [--cases none,10u,10000u,10,1000,10000,100000,blocklist] [--rampart PATH] [--rampartd PATH] [--fixture N] [--churn-seconds S] [--churn-filters N]\n"
                    .utf8))
        exit(64)
    }
}

func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }
func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
func fmt(_ x: Double) -> String { String(format: x < 10 ? "%.2f" : "%.1f", x) }

func store(_ script: String) -> Store {
    var i = Interpreter(store: Store())
    do { try ScriptRunner.run(ScriptRunner.lines(of: script, file: "bench"), in: &i) } catch { fatalError("\(error)") }
    return i.store
}

/// Starts rampartd in `ns` with a test NOTIFY_SOCKET and no watchdog; output is discarded.
@MainActor func startDaemon(in ns: Namespace, _ arguments: [String], notify: NotifySocket) throws -> ChildProcess {
    var env = ProcessInfo.processInfo.environment
    env["NOTIFY_SOCKET"] = notify.path
    env.removeValue(forKey: "WATCHDOG_USEC")
    return try ChildProcess(["/usr/sbin/ip", "netns", "exec", ns.name, rampartdBinary] + arguments, environment: env)
}

/// rampartd started in `ns` and READY (or 20 s without a notification); stop it with `stopDaemon`.
@MainActor func readyDaemon(
    in ns: Namespace, _ arguments: [String], notifyPath: String
) throws -> (ChildProcess, NotifySocket) {
    let notify = try NotifySocket(path: notifyPath)
    let p = try startDaemon(in: ns, arguments, notify: notify)
    _ = notify.wait(for: "READY=1", seconds: 20)
    return (p, notify)
}

func stopDaemon(_ p: ChildProcess, _ notify: NotifySocket) {
    kill(p.processIdentifier, SIGKILL)
    p.waitUntilExit()
    notify.close()
}

/// Runs a command with posix_spawn and waits: the least overhead a process launch can have, so
/// process-level timings compare the programs, not the launcher.
func spawnAndWait(_ arguments: [String]) -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    var cArgs = arguments.map { strdup($0) } + [nil]
    defer { for p in cArgs { free(p) } }
    var pid = pid_t()
    guard posix_spawnp(&pid, arguments[0], &actions, nil, &cArgs, environ) == 0 else { return -1 }
    var status: Int32 = 0
    _ = Syscall.uninterrupted { waitpid(pid, &status, 0) }
    return status
}

func timed(_ arguments: [String]) -> Double {
    let start = ContinuousClock.now
    let status = spawnAndWait(arguments)
    let elapsed = ms(ContinuousClock.now - start)
    if status != 0 { fatalError("\(arguments.joined(separator: " ")) failed: \(status)") }
    return elapsed
}

let clock = ContinuousClock()
let work = FileManager.default.temporaryDirectory.appendingPathComponent("rampart-bench-\(getpid())")
try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: work) }

struct Row {
    var name: String
    var ours: Double
    var nft: Double
    var oursCLI: Double?
    var nftCLI: Double?
}
var rows: [Row] = []

let workloads: [(String, String)] = [
    ("100 filters", Fixtures.synthetic(filters: 100)),
    ("1,000 filters", Fixtures.synthetic(filters: 1_000)),
    ("10,000 filters", Fixtures.synthetic(filters: 10_000)),
    ("100,000 filters", Fixtures.synthetic(filters: 100_000)),
    ("1,850-filter block list", Fixtures.blocklist(entries: 1_850))
]

for (name, script) in sections.contains("apply") ? workloads : [] {
    let s = store(script)
    let ruleset = RulesetCompiler().compile(s)
    let text = NftRenderer.script(ruleset)
    let nftFile = work.appendingPathComponent("ruleset.nft").path
    try text.write(toFile: nftFile, atomically: true, encoding: .utf8)
    let storeFile = work.appendingPathComponent("store.json").path
    try StoreFile(path: storeFile).save(s)
    var ours: [Double] = [], nft: [Double] = [], oursCLI: [Double] = [], nftCLI: [Double] = []
    for run in 0...runs {
        // In process: the netlink transaction alone (socket open excluded), vs the nft process.
        let a = try Namespace("bench"), b = try Namespace("bench")
        let client = try a.client()
        let t0 = clock.now
        try client.apply(ruleset)
        let inProcess = ms(clock.now - t0)
        let nftTime = timed(["ip", "netns", "exec", b.name, "nft", "-f", nftFile])
        a.delete()
        b.delete()
        // Whole commands: `rampart apply` (load store, compile, apply) vs `nft -f` (parse, apply).
        let c = try Namespace("bench"), d = try Namespace("bench")
        let oursCommand = timed(["ip", "netns", "exec", c.name, rampartBinary, "apply", "--store", storeFile])
        let nftCommand = timed(["ip", "netns", "exec", d.name, "nft", "-f", nftFile])
        c.delete()
        d.delete()
        if run == 0 { continue }  // warm-up
        ours.append(inProcess)
        nft.append(nftTime)
        oursCLI.append(oursCommand)
        nftCLI.append(nftCommand)
    }
    rows.append(Row(name: name, ours: median(ours), nft: median(nft), oursCLI: median(oursCLI), nftCLI: median(nftCLI)))
    FileHandle.standardError.write(Data("\(name): done\n".utf8))
}

// Set updates: replace the elements of one set (1 and 10,000 addresses) in a ruleset already applied.
let setScript =
    "ipsec static add filter filterlist=L srcaddr=me dstaddr=DNS protocol=udp dstport=53\nipsec static add filteraction name=P action=permit\nipsec static add policy name=X assign=yes\nipsec static add rule name=R policy=X filterlist=L filteraction=P\n"
let setStore = store(setScript)
var setRows: [Row] = []
for count in sections.contains("apply") ? [1, 10_000] : [] {
    var addresses = DynamicAddresses()
    addresses.dns = (0..<count).map { IPAddress.v6(UInt128(0x2001_0db8) << 96 | UInt128($0) * 2) }
    let ruleset = RulesetCompiler().compile(setStore, addresses: addresses)
    let set = ruleset.sets.first { $0.name == "dns_v6" }!
    let elements = set.elements.map(\.description).joined(separator: ", ")
    let nftFile = work.appendingPathComponent("set.nft").path
    try "flush set inet rampart dns_v6\nadd element inet rampart dns_v6 { \(elements) }\n".write(
        toFile: nftFile, atomically: true, encoding: .utf8)
    var ours: [Double] = [], nft: [Double] = []
    let a = try Namespace("bench"), b = try Namespace("bench")
    let client = try a.client()
    try client.apply(RulesetCompiler().compile(setStore))
    try b.run(["nft", "-f", "-"], input: NftRenderer.script(RulesetCompiler().compile(setStore)))
    for run in 0...runs {
        let t0 = clock.now
        try client.replaceElements(of: [set])
        let inProcess = ms(clock.now - t0)
        let nftTime = timed(["ip", "netns", "exec", b.name, "nft", "-f", nftFile])
        if run == 0 { continue }
        ours.append(inProcess)
        nft.append(nftTime)
    }
    a.delete()
    b.delete()
    setRows.append(
        Row(
            name: "replace a set's elements with \(count == 1 ? "1 address" : "10,000 addresses")", ours: median(ours),
            nft: median(nft)))
}

let date = ISO8601DateFormatter().string(from: Date())
if sections == ["stages"] {
    print("Measured \(date), in process, medians of \(runs) runs.")
} else if sections != ["packets"], sections != ["commands"] {
    print("Measured \(date), \(runs) runs each after one warm-up, medians; a fresh network namespace per run.")
}
if sections.contains("apply") {
    print("")
    print(
        "| workload | rampart netlink apply (in process) | `nft -f` (process) | ratio | `rampart apply` (process) | `nft -f` (process) | ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows {
        print(
            "| \(r.name) | \(fmt(r.ours)) ms | \(fmt(r.nft)) ms | \(fmt(r.ours / r.nft))× | \(fmt(r.oursCLI!)) ms | \(fmt(r.nftCLI!)) ms | \(fmt(r.oursCLI! / r.nftCLI!))× |"
        )
    }
    print("")
    print("| set update | rampart `replaceElements` (in process) | `nft -f` flush + add element (process) | ratio |")
    print("|---|---|---|---|")
    for r in setRows {
        print("| \(r.name) | \(fmt(r.ours)) ms | \(fmt(r.nft)) ms | \(fmt(r.ours / r.nft))× |")
    }
}

// rampartd: exec → boot mode enforced and exec → READY=1, timed from outside (spawn to the
// notification's arrival); then idle CPU, wakeups and memory over `idleSeconds`.
if sections.contains("daemon") {
    func daemonRun(_ storePath: String) throws -> (boot: Double, ready: Double) {
        let ns = try Namespace("benchd")
        defer { ns.delete() }
        let notify = try NotifySocket(path: work.appendingPathComponent("notify-\(UUID().uuidString).sock").path)
        defer { notify.close() }
        let start = clock.now
        let p = try startDaemon(
            in: ns, ["--store", storePath, "--socket", work.appendingPathComponent("c-\(UUID().uuidString).sock").path],
            notify: notify)
        var boot = 0.0, ready = 0.0
        while ready == 0, let m = notify.receive(timeout: 20) {
            let now = ms(clock.now - start)
            if m.contains("boot mode") && m.contains("enforced") && boot == 0 { boot = now }
            if m.contains("READY=1") { ready = now }
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        return (boot, ready)
    }
    var daemonRows: [(String, Double, Double)] = []
    for (name, script) in [
        ("web-server example", try String(contentsOfFile: Fixtures.webServerExample, encoding: .utf8)),
        ("10,000 filters", Fixtures.synthetic(filters: 10_000))
    ] {
        let storePath = work.appendingPathComponent("daemon-store.json").path
        try StoreFile(path: storePath).save(store(script))
        var boots: [Double] = [], readies: [Double] = []
        for run in 0...runs {
            let r = try daemonRun(storePath)
            if run > 0 {
                boots.append(r.boot)
                readies.append(r.ready)
            }
        }
        daemonRows.append((name, median(boots), median(readies)))
    }
    print("")
    print("| rampartd startup (process spawned → notification received) | exec → boot mode enforced | exec → READY=1 |")
    print("|---|---|---|")
    for (name, boot, ready) in daemonRows { print("| \(name) | \(fmt(boot)) ms | \(fmt(ready)) ms |") }

    // Idle: one daemon, the web-server example, no watchdog, nothing changing.
    let storePath = work.appendingPathComponent("daemon-store.json").path
    try StoreFile(path: storePath).save(store(try String(contentsOfFile: Fixtures.webServerExample, encoding: .utf8)))
    let ns = try Namespace("idle")
    defer { ns.delete() }
    let notify = try NotifySocket(path: work.appendingPathComponent("notify-idle.sock").path)
    let p = try startDaemon(
        in: ns, ["--store", storePath, "--socket", work.appendingPathComponent("idle.sock").path], notify: notify)
    _ = notify.wait(for: "READY=1", seconds: 20)
    let pid = p.processIdentifier
    func sample() -> (cpuTicks: Int, switches: [String: Int], rssKiB: Int, anonKiB: Int) {
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
        let ticks = fields.count > 13 ? (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0) : 0
        var switches: [String: Int] = [:]
        for task in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? [] {
            let status = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8)) ?? ""
            for line in status.split(separator: "\n")
            where line.hasPrefix("voluntary_ctxt_switches") || line.hasPrefix("nonvoluntary_ctxt_switches") {
                switches[task, default: 0] +=
                    Int(line.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "") ?? 0
            }
        }
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        func field(_ name: String) -> Int {
            status.split(separator: "\n").first { $0.hasPrefix(name) }.flatMap {
                Int($0.split(separator: " ").dropFirst().first ?? "")
            } ?? 0
        }
        return (ticks, switches, field("VmRSS"), field("RssAnon"))
    }
    sleep(2)
    let a = sample()
    sleep(UInt32(idleSeconds))
    let b = sample()
    kill(pid, SIGKILL)
    p.waitUntilExit()
    notify.close()
    let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
    print("")
    print("| rampartd idle for \(idleSeconds) s (web-server example, no watchdog) | value |")
    print("|---|---|")
    print("| CPU time used | \(fmt(Double(b.cpuTicks - a.cpuTicks) / hz * 1000)) ms |")
    let wakeups = b.switches.reduce(0) { $0 + $1.value - (a.switches[$1.key] ?? 0) }
    print("| context switches, all threads (wakeups) | \(wakeups) (threads: \(b.switches.count)) |")
    print("| resident memory (VmRSS) | \(b.rssKiB / 1024) MiB (\(b.rssKiB) KiB), of which anonymous \(b.anonKiB) KiB |")
}

// Dynamic addresses: latency from a resolv.conf write to the DNS set committed in the kernel (seen
// as the daemon's NEWSETELEM notification), then idle wakeups with the watchers running.
if sections.contains("sources") {
    let ns = try Namespace("src")
    defer { ns.delete() }
    let resolv = work.appendingPathComponent("resolv.conf").path
    try "nameserver 192.0.2.1\n".write(toFile: resolv, atomically: true, encoding: .utf8)
    let config = work.appendingPathComponent("rampartd.conf").path
    try "resolv_conf = \(resolv)\n".write(toFile: config, atomically: true, encoding: .utf8)
    let storePath = work.appendingPathComponent("sources-store.json").path
    try StoreFile(path: storePath).save(
        store(
            "ipsec static add filter filterlist=L srcaddr=me dstaddr=DNS protocol=udp dstport=53\nipsec static add filteraction name=P action=permit\nipsec static add policy name=X assign=yes\nipsec static add rule name=R policy=X filterlist=L filteraction=P\n"
        ))
    let (p, notify) = try readyDaemon(
        in: ns, ["--config", config, "--store", storePath, "--socket", work.appendingPathComponent("src.sock").path],
        notifyPath: work.appendingPathComponent("notify-src.sock").path)
    defer { stopDaemon(p, notify) }
    let monitor = try ns.monitor()
    let committed = DispatchSemaphore(value: 0)
    let wakeup = try Wakeup()
    defer { wakeup.stop() }
    let thread = Thread {
        try? monitor.run(
            until: wakeup, ownPortIDs: { [] },
            changed: { change in
                if change.operations.contains("new set element") { committed.signal() }
            })
    }
    thread.start()
    var latencies: [Double] = []
    let changes = 200
    for i in 0..<changes {
        let t0 = clock.now
        // Rename-replace, as resolvconf and dhclient-script write it.
        try "nameserver 192.0.2.\(2 + i % 200)\n".write(toFile: resolv, atomically: true, encoding: .utf8)
        guard committed.wait(timeout: .now() + 2) == .success else { fatalError("no set update after change \(i)") }
        latencies.append(ms(clock.now - t0))
        usleep(5_000)
    }
    let sorted = latencies.sorted()
    let p99 = sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.99).rounded(.up)) - 1)]
    print("")
    print(
        "| DNS server change (resolv.conf rename-replace → DNS set committed), \(changes) changes | median | p99 | max |"
    )
    print("|---|---|---|---|")
    print("| rampartd | \(fmt(median(latencies))) ms | \(fmt(p99)) ms | \(fmt(sorted.last!)) ms |")
}

// Per-packet cost: UDP 64-byte packets/s through the input hook of a receiver namespace whose
// table holds the policy, flooded by iperf3 from a sender namespace over a veth pair, for
// `floodSeconds` per run. The traffic matches no filter (the reference evaluator checks it): it
// falls through every filter to the default permit, the worst case for a first-match chain.
// Only with `--only packets` (it takes minutes).
if sections == ["packets"] {
    let sender = "198.51.100.1", receiver = "198.51.100.2", port: UInt16 = 5201
    let cases: [(key: String, name: String, script: String?, grouped: Bool)] = [
        ("none", "no table", nil, true),
        ("10u", "10 filters, a rule each (grouping off)", Fixtures.synthetic(filters: 10), false),
        ("10000u", "10,000 filters, a rule each (grouping off)", Fixtures.synthetic(filters: 10_000), false),
        ("10", "10 filters", Fixtures.synthetic(filters: 10), true),
        ("1000", "1,000 filters", Fixtures.synthetic(filters: 1_000), true),
        ("10000", "10,000 filters", Fixtures.synthetic(filters: 10_000), true),
        ("100000", "100,000 filters", Fixtures.synthetic(filters: 100_000), true),
        ("blocklist", "1,850-network block list", Fixtures.blocklist(entries: 1_850), true)
    ].filter { packetCases?.contains($0.key) ?? true }
    struct FloodRow {
        var name: String
        var inputRules: Int
        var rates: [Double]
    }
    var floodRows: [FloodRow] = []
    let host = Host(localAddresses: [IPAddress(receiver)!])
    var rulesets: [Ruleset?] = []
    for c in cases {
        var ruleset: Ruleset?
        if let script = c.script {
            let s = store(script)
            let compiled = RulesetCompiler(options: CompileOptions(groupsFilters: c.grouped)).compile(s)
            let probe = Packet(
                source: IPAddress(sender)!, destination: IPAddress(receiver)!, proto: 17, sourcePort: 40000,
                destinationPort: port)
            let verdict = ReferenceEvaluator(store: s, addresses: DynamicAddresses(), host: host).verdict(probe, .input)
            guard verdict == PacketVerdict(.accept, nil) else {
                fatalError("\(c.name): the probe traffic is decided by \(verdict), not the default permit")
            }
            guard RulesetEvaluator(ruleset: compiled, host: host).verdict(probe, .input) == verdict else {
                fatalError("\(c.name): the ruleset disagrees")
            }
            ruleset = compiled
        }
        rulesets.append(ruleset)
    }
    // Round by round, every case once per round: a drift of the machine's speed over the minutes of
    // the run then weighs on every case alike instead of on whichever ran last.
    var rates = [[Double]](repeating: [], count: cases.count)
    for _ in 0..<runs {
        for (index, c) in cases.enumerated() {
            let (a, b) = try linkedPair("pps", sender, receiver)
            defer {
                a.delete()
                b.delete()
            }
            if let ruleset = rulesets[index] { try b.client().apply(ruleset) }
            let server = try b.spawn(["iperf3", "-s", "-1", "-B", receiver, "-p", "\(port)"])
            defer {
                if server.isRunning { kill(server.processIdentifier, SIGKILL) }
                server.waitUntilExit()
            }
            usleep(300_000)
            let out = try a.run([
                "iperf3", "-c", receiver, "-p", "\(port)", "-u", "-l", "64", "-b", "0", "-t", "\(floodSeconds)", "-J"
            ])
            guard let data = out.out.data(using: .utf8),
                let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let end = json["end"] as? [String: Any], let sum = end["sum"] as? [String: Any],
                let packets = sum["packets"] as? Int, let lost = sum["lost_packets"] as? Int,
                let seconds = sum["seconds"] as? Double, seconds > 0
            else {
                fatalError("\(c.name): unreadable iperf3 result: \(out.out.prefix(400)) \(out.err.prefix(400))")
            }
            rates[index].append(Double(packets - lost) / seconds)
        }
    }
    for (index, c) in cases.enumerated() {
        floodRows.append(
            FloodRow(
                name: c.name, inputRules: rulesets[index]?.chains.first { $0.hook == .input }?.rules.count ?? 0,
                rates: rates[index]))
    }
    print(
        "Measured \(ISO8601DateFormatter().string(from: Date())), \(runs) runs of \(floodSeconds) s each, medians; fresh namespaces per run."
    )
    print("")
    print("| UDP 64-byte flood, received through the input hook | input chain rules | packets/s | vs 10 filters |")
    print("|---|---|---|---|")
    let base = floodRows.first { $0.name == "10 filters" }.map { median($0.rates) }
    for row in floodRows {
        let rate = median(row.rates)
        let ratio = base.map { String(format: "%.2f×", rate / $0) } ?? "—"
        print("| \(row.name) | \(row.inputRules) | \(Int(rate.rounded())) | \(ratio) |")
    }
}

// Growth of every stage with the policy's size: the synthetic policy and the block list at 1,000,
// 10,000 and 100,000 filters, each stage timed in process (median of `runs`), and the ratio of
// each size to the previous one (10 means linear). Only with `--only stages`.
if sections == ["stages"] {
    /// Acknowledges every message as nf_tables would, records nothing: the client's own cost.
    final class NullTransport: NetlinkTransport {
        let portID: UInt32 = 1
        var replies: [[UInt8]] = []
        func sizeBuffers(bytes: Int, messages: Int) {}
        func send(_ bytes: [UInt8]) throws(NetlinkError) {
            for m in NetlinkMessages(bytes: bytes) where m.flags & UInt16(NLM_F_ACK) != 0 {
                replies.append(
                    Wire.message(
                        type: UInt16(NLMSG_ERROR), flags: 0x100, sequence: m.sequence,
                        Wire.le32(0) + Array(m.data.prefix(16))))
            }
        }
        func receive(wait: Bool) throws(NetlinkError) -> [UInt8]? { replies.isEmpty ? nil : replies.removeFirst() }
    }
    func time(_ body: () throws -> Void) rethrows -> Double {
        var samples: [Double] = []
        for _ in 0..<max(1, runs) {
            let start = ContinuousClock.now
            try body()
            samples.append(ms(ContinuousClock.now - start))
        }
        return median(samples)
    }
    let stageNames = [
        "parse", "interpret", "store encode", "store decode", "order", "compile", "linearize + batch", "show active",
        "counters listing", "dump"
    ]
    for (shape, make) in [
        ("synthetic", { (n: Int) in Fixtures.synthetic(filters: n) }),
        ("block list", { (n: Int) in Fixtures.blocklist(entries: n) })
    ] {
        var table: [[Double]] = []
        let sizes = [1_000, 10_000, 100_000]
        for n in sizes {
            let text = make(n)
            var parsed = ParsedScript()
            var s = Store()
            var data = Data()
            var filters: [ActiveFilter] = []
            var ruleset = Ruleset()
            var row: [Double] = []
            row.append(try time { parsed = try ScriptRunner.parse(ScriptRunner.lines(of: text, file: "bench")) })
            row.append(
                try time {
                    var i = Interpreter(store: Store())
                    try ScriptRunner.run(parsed, in: &i)
                    s = i.store
                })
            row.append(time { data = StoreCodec.encode(s) })
            row.append(try time { _ = try StoreCodec.decode(data) })
            row.append(time { filters = Ordering.sorted(EffectiveFilters.collect(s), for: .input) })
            row.append(time { ruleset = RulesetCompiler().compile(s) })
            row.append(try time { try NftablesClient(transport: NullTransport()).apply(ruleset) })
            row.append(time { _ = ActiveListing.text(Ordering.display(EffectiveFilters.collect(s))) })
            let counters = ruleset.chains.flatMap { chain in
                chain.rules.enumerated().map {
                    RuleCounter(chain: chain.name, handle: UInt64($0.offset), id: $0.element.id, packets: 1, bytes: 64)
                }
            }
            row.append(time { _ = CounterListing.text(CounterListing.rows(counters, ranks: CounterListing.ranks(s))) })
            row.append(time { _ = ScriptWriter.dump(s) })
            _ = filters
            table.append(row)
        }
        print("")
        print("| \(shape): stage (ms) | 1,000 | 10,000 | 100,000 | 10k/1k | 100k/10k |")
        print("|---|---|---|---|---|---|")
        for (i, name) in stageNames.enumerated() {
            let a = table[0][i], b = table[1][i], c = table[2][i]
            print(
                "| \(name) | \(fmt(a)) | \(fmt(b)) | \(fmt(c)) | \(String(format: "%.1f", b / max(a, 0.001))) | \(String(format: "%.1f", c / max(b, 0.001))) |"
            )
        }
    }
}

// The commands an admin runs, as processes, on block lists of 1,000, 10,000 and 100,000 networks:
// exec of the script, apply in a fresh namespace, one more filter, apply again (replacing the
// table), counters from the kernel, show active, and `nft list ruleset` of the result for scale.
// Medians of `runs`. Only with `--only commands`.
if sections == ["commands"] {
    let sizes = [1_000, 10_000, 100_000]
    let steps = [
        "exec (script → store)", "apply (fresh namespace)", "static add filter (update)", "apply again (replace)",
        "counters", "show active", "nft list ruleset (for scale)"
    ]
    var table = [[Double]](repeating: [], count: steps.count)
    var elements: [Int] = []
    for n in sizes {
        let script = work.appendingPathComponent("blocklist-\(n).netsh").path
        try Fixtures.blocklist(entries: n).write(toFile: script, atomically: true, encoding: .utf8)
        var samples = [[Double]](repeating: [], count: steps.count)
        for _ in 0..<max(1, n >= 100_000 ? min(runs, 3) : runs) {
            let storePath = work.appendingPathComponent("commands-\(n).json").path
            for suffix in ["", ".boot", ".lock"] { unlink(storePath + suffix) }
            let ns = try Namespace("cmds")
            defer { ns.delete() }
            let inNS = ["ip", "netns", "exec", ns.name, rampartBinary]
            samples[0].append(timed([rampartBinary, "exec", "--store", storePath, script]))
            samples[1].append(timed(inNS + ["apply", "--store", storePath]))
            samples[2].append(
                timed([
                    rampartBinary, "static", "add", "filter", "filterlist=Banned", "srcaddr=192.0.2.77", "dstaddr=me",
                    "--store", storePath
                ]))
            samples[3].append(timed(inNS + ["apply", "--store", storePath]))
            samples[4].append(timed(inNS + ["counters", "--store", storePath]))
            samples[5].append(timed([rampartBinary, "show", "active", "--store", storePath]))
            samples[6].append(timed(["ip", "netns", "exec", ns.name, "nft", "list", "ruleset"]))
        }
        for i in steps.indices { table[i].append(median(samples[i])) }
        let compiled = RulesetCompiler().compile(store(Fixtures.blocklist(entries: n)))
        elements.append(compiled.filterSets.reduce(0) { $0 + $1.elements.count })
    }
    print(
        "Measured \(ISO8601DateFormatter().string(from: Date())), block lists of \(sizes.map(String.init).joined(separator: "/")) networks (\(elements.map(String.init).joined(separator: "/")) set elements, both halves), medians; processes."
    )
    print("")
    print("| command (ms) | 1,000 | 10,000 | 100,000 | 10k/1k | 100k/10k |")
    print("|---|---|---|---|---|---|")
    for (i, step) in steps.enumerated() {
        let t = table[i]
        print(
            "| \(step) | \(fmt(t[0])) | \(fmt(t[1])) | \(fmt(t[2])) | \(String(format: "%.1f", t[1] / t[0])) | \(String(format: "%.1f", t[2] / t[1])) |"
        )
    }
}

// Drop logging under a flood: rampartd (this build) in a receiver namespace whose policy blocks
// a sender's UDP, flooded by probe.py for `floodSeconds` at 100,000/s and as fast as it can send,
// with ipsecdiagnostics 1 (every drop logged) against 0 (none): the daemon's CPU, its peak RSS,
// and what the records account for. Only with `--only flood`.
if sections == ["flood"] {
    let sender = "203.0.113.10", receiver = "203.0.113.1"
    let probe = Fixtures.repositoryRoot.appendingPathComponent("scripts/probe.py").path
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // utime and stime: fields 14 and 15 of proc(5), 12 and 13 after the command name.
        return ((Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)) / ticks
    }
    func peakKiB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }.flatMap {
            Int($0.split(separator: " ")[1])
        } ?? 0
    }
    struct Sample {
        var offered: Double
        var dropped: Double
        var cpu: Double
        var peak: Double
        var logged: Double
        var lost: Double
    }
    let cases: [(name: String, rate: Double, bits: Int)] = [
        ("100,000/s, every drop logged", 100_000, 1), ("100,000/s, logging off", 100_000, 0),
        ("flat out, every drop logged", 10_000_000, 1), ("flat out, logging off", 10_000_000, 0)
    ]
    var samples = [[Sample]](repeating: [], count: cases.count)
    for _ in 0..<runs {
        for (index, c) in cases.enumerated() {
            let (a, b) = try linkedPair("flood", sender, receiver)
            defer {
                a.delete()
                b.delete()
            }
            let work = FileManager.default.temporaryDirectory.appendingPathComponent(
                "rampart-flood-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: work) }
            let logFile = work.appendingPathComponent("drops.log").path
            let config = work.appendingPathComponent("rampartd.conf").path
            try "log_file = \(logFile)\nlog_interval_seconds = 2\n".write(
                toFile: config, atomically: true, encoding: .utf8)
            let storePath = work.appendingPathComponent("store.json").path
            try StoreFile(path: storePath).save(
                store(
                    """
                    ipsec static add filteraction name=Block action=block
                    ipsec static add filter filterlist=B srcaddr=\(sender) dstaddr=me protocol=udp mirrored=no
                    ipsec static add policy name=P assign=yes
                    ipsec static add rule name=b policy=P filterlist=B filteraction=Block
                    ipsec dynamic set config ipsecdiagnostics \(c.bits)

                    """))
            let (p, notify) = try readyDaemon(
                in: b,
                ["--config", config, "--store", storePath, "--socket", work.appendingPathComponent("c.sock").path],
                notifyPath: work.appendingPathComponent("notify.sock").path)
            defer { stopDaemon(p, notify) }
            let pid = p.processIdentifier
            let cpu0 = cpuSeconds(pid)
            let t0 = Date()
            let out = try a.run([
                "python3", probe, "flood", receiver, "--rate", "\(Int(c.rate))", "--seconds", "\(floodSeconds)",
                "--ports", "1-3000"
            ])
            let wall = Date().timeIntervalSince(t0)
            let listed = try b.run(["nft", "-j", "list", "table", "inet", "rampart"]).out
            let dropped = listed.matches(of: /"counter": \{"packets": (\d+)/).reduce(0) { $0 + (Int($1.1) ?? 0) }
            // The records of the last interval come up to 2 s after the flood.
            var logged = 0, lost = 0
            let deadline = Date().addingTimeInterval(c.bits == 0 ? 3 : 30)
            repeat {
                usleep(200_000)
                let text = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
                logged = 0
                lost = 0
                for case .total(let t) in W3CLog.parse(text) {
                    logged += t.logged
                    lost += t.lost
                }
            } while logged + lost < dropped && Date() < deadline && c.bits != 0
            let cpu = (cpuSeconds(pid) - cpu0) / wall
            samples[index].append(
                Sample(
                    offered: (Double(out.out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) / wall,
                    dropped: Double(dropped) / wall, cpu: cpu * 100, peak: Double(peakKiB(pid)) / 1024,
                    logged: Double(logged), lost: Double(lost)))
        }
    }
    print(
        "Measured \(ISO8601DateFormatter().string(from: Date())), \(runs) runs of \(floodSeconds) s each, medians; fresh namespaces per run; sender: scripts/probe.py flood."
    )
    print("")
    print("| UDP flood to a blocked port | drops/s | rampartd CPU | rampartd peak RSS | logged | lost |")
    print("|---|---|---|---|---|---|")
    for (index, c) in cases.enumerated() {
        let s = samples[index]
        print(
            "| \(c.name) | \(Int(median(s.map(\.dropped)).rounded())) | \(fmt(median(s.map(\.cpu)))) % | \(fmt(median(s.map(\.peak)))) MiB "
                + "| \(Int(median(s.map(\.logged)))) | \(Int(median(s.map(\.lost)))) |")
    }
}

// One filter added or removed through rampartd at 1,000, 10,000 and 100,000 filters: each edit
// timed end to end as the `rampart` process that asks for it (the request, the daemon's store
// load, compile, delta transaction and store write, the reply), with the daemon's own time for
// the transaction (`lastApply.ms`: reading the edited chains' handles and the commit) and what
// it touched; beside it, `nft add element` and `nft add rule` processes adding one key or one
// rule to the same ruleset in another namespace (`nsenter --net`), the anchor. Medians and p99
// of `runs` edits, alternately an addition and its removal. Only with `--only edits`.
if sections == ["edits"] {
    func percentile(_ xs: [Double], _ p: Double) -> Double {
        let s = xs.sorted()
        return s[min(s.count - 1, max(0, Int((Double(s.count) * p).rounded(.up)) - 1))]
    }
    func lastApply() -> (ms: Double, result: String) {
        let out = (try? sh([rampartBinary, "status", "--json"]).out) ?? ""
        let json = (try? JSONSerialization.jsonObject(with: Data(out.utf8))) as? [String: Any]
        let last = json?["lastApply"] as? [String: Any]
        return (Double(last?["ms"] as? String ?? "") ?? .nan, last?["result"] as? String ?? "")
    }
    /// VmRSS of `pid`, KiB.
    func residentKiB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
    var memory: [(filters: Int, ready: Int, edited: Int)] = []
    print("")
    print(
        "| filters | one-filter edit through rampartd, CLI end to end: median | p99 | rampartd's transaction: median | p99 | touched (typical) | `nft add element` process | `nft add rule` process |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for filters in [1_000, 10_000, 100_000] {
        let s = store(Fixtures.synthetic(filters: filters))
        let storePath = work.appendingPathComponent("edits-store.json").path
        try StoreFile(path: storePath).save(s)
        let socket = work.appendingPathComponent("edits.sock").path
        setenv("RAMPART_SOCKET", socket, 1)
        let ns = try Namespace("edits"), anchor = try Namespace("anchor")
        defer {
            ns.delete()
            anchor.delete()
        }
        let (p, notify) = try readyDaemon(
            in: ns, ["--store", storePath, "--socket", socket],
            notifyPath: work.appendingPathComponent("n-edits.sock").path)
        defer { stopDaemon(p, notify) }
        let readyKiB = residentKiB(p.processIdentifier)
        let ruleset = RulesetCompiler().compile(s)
        try anchor.client().apply(ruleset)
        let set = ruleset.filterSets.first {
            $0.key.address?.family == .ipv4 && $0.key.address?.length == 32 && $0.key.port != nil
        }!
        let chain = String(set.name.prefix { $0 != "_" })
        var cli: [Double] = [], kernel: [Double] = [], element: [Double] = [], rule: [Double] = []
        var touched: [String: Int] = [:]
        for i in 0...(2 * runs) {
            let address = "198.51.77.\(i / 2 % 250 + 1)"
            let verb = i % 2 == 0 ? "add" : "delete"
            let t = timed([
                rampartBinary, "static", verb, "filter", "filterlist=L0", "srcaddr=\(address)", "dstaddr=me",
                "protocol=tcp", "dstport=1", "mirrored=no"
            ])
            let applied = lastApply()
            let nsenter = ["nsenter", "--net=/run/netns/\(anchor.name)", "nft"]
            let e = timed(nsenter + [verb, "element", "inet", "rampart", set.name, "{ \(address) . 1 }"])
            let r =
                i % 2 == 0
                ? timed(
                    nsenter + [
                        "add", "rule", "inet", "rampart", chain, "ip", "saddr", address, "tcp", "dport", "1", "counter",
                        "accept"
                    ]) : nil
            if i == 0 { continue }
            cli.append(t)
            kernel.append(applied.ms)
            element.append(e)
            if let r { rule.append(r) }
            touched[applied.result, default: 0] += 1
        }
        let typical = touched.max { $0.value < $1.value }?.key ?? ""
        print(
            "| \(filters) | \(fmt(median(cli))) ms | \(fmt(percentile(cli, 0.99))) ms | \(fmt(median(kernel))) ms | \(fmt(percentile(kernel, 0.99))) ms | \(typical) | \(fmt(median(element))) ms | \(fmt(median(rule))) ms |"
        )
        FileHandle.standardError.write(Data("\(filters) filters: \(touched)\n".utf8))
        memory.append((filters, readyKiB, residentKiB(p.processIdentifier)))
    }
    print("")
    print("| filters | rampartd resident after READY | after the edits | per filter after the edits |")
    print("|---|---|---|---|")
    for m in memory {
        print(
            "| \(m.filters) | \(m.ready / 1024) MiB | \(m.edited / 1024) MiB | \(fmt(Double(m.edited) * 1024 / Double(m.filters))) bytes |"
        )
    }
}

if sections == ["churn"] {
    try churn(filters: churnFilters, seconds: churnSeconds, pause: 2, every: 600, work: work)
}
