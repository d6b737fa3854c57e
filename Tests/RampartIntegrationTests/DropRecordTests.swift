import Foundation
import Testing
import RampartNamespaceKit
import RampartTestKit

extension HeavySuites {
    /// rampartd reads NFLOG: known traffic sent between namespaces comes back, at the end of its
    /// interval, as exactly the aggregated records it should — each naming its filter — for every
    /// combination of `ipsecdiagnostics` bits, for boot-mode drops, and never for permitted traffic;
    /// and the totals equal what the kernel's counters say was dropped.
    @Suite(.serialized) struct DropRecordTests {
        typealias L = Lab

        /// The records and totals of the daemon's W3C log, read back through `rampart logs --format json`.
        static func entries(_ daemon: DaemonHarness, _ file: String) throws -> [[String: Any]] {
            guard FileManager.default.fileExists(atPath: file) else { return [] }
            let out = try daemon.rampart(["logs", "--file", file, "--format", "json"]).out
            return try out.split(separator: "\n").map {
                try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
            }
        }

        /// Record counts summed per (direction filter proto src dst port), over however many intervals.
        static func tally(_ entries: [[String: Any]]) -> (records: [String: Int], logged: Int, lost: Int) {
            var records: [String: Int] = [:]
            var logged = 0, lost = 0
            for e in entries {
                if e["type"] as? String == "total" {
                    logged += e["logged"] as! Int
                    lost += e["lost"] as! Int
                } else {
                    let port = (e["port"] as? Int).map { " \($0)" } ?? ""
                    let key =
                        "\(e["direction"]!) \(e["filter"]!) \(e["proto"]!) \(e["source"]!) \(e["destination"]!)\(port)"
                    records[key, default: 0] += e["count"] as! Int
                }
            }
            return (records, logged, lost)
        }

        /// Packets counted by the server's rules that end in drop (per chain), and by the log rules
        /// that count for themselves (invalid packets, the boot mode's policy drop).
        static func kernelCounts(_ ns: Namespace) throws -> [String: Int] {
            let out = try ns.run(["nft", "-j", "list", "table", "inet", "rampart"]).out
            let items =
                (try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any])["nftables"]
                as! [[String: Any]]
            var counts: [String: Int] = [:]
            for item in items {
                guard let rule = item["rule"] as? [String: Any], let expr = rule["expr"] as? [[String: Any]] else {
                    continue
                }
                guard let packets = expr.compactMap({ ($0["counter"] as? [String: Any])?["packets"] as? Int }).first
                else { continue }
                let chain = rule["chain"] as! String
                if expr.contains(where: { $0.keys.contains("drop") }) { counts["\(chain) drop", default: 0] += packets }
                if expr.contains(where: { $0.keys.contains("log") }) {
                    counts["\(chain) \(rule["comment"] as? String ?? "")", default: 0] += packets
                }
            }
            return counts
        }

        /// rampartd in the lab's server namespace on `cli`'s store, its drop records every `interval`
        /// seconds also in the W3C file it returns.
        static func daemon(_ lab: Lab, _ cli: RampartCLI, interval: Int = 1) throws -> (DaemonHarness, String) {
            let file = cli.directory.appendingPathComponent("drops.log").path
            let daemon = try DaemonHarness(
                cli: cli, ns: lab.server, config: "log_file = \(file)\nlog_interval_seconds = \(interval)\n")
            try daemon.start()
            return (daemon, file)
        }

        static func delta(_ after: [String: Int], _ before: [String: Int]) -> [String: Int] {
            var d: [String: Int] = [:]
            for (k, v) in after where v - (before[k] ?? 0) != 0 { d[k] = v - (before[k] ?? 0) }
            return d
        }

        /// The log once rampartd says drop logging is idle: every packet the kernel's log rules saw
        /// is read, summarised and written, so nothing else comes. (`expected` drops in the file
        /// are waited for first, for 20 s at most: a packet still on its way to the rules.)
        static func settle(_ daemon: DaemonHarness, _ file: String, expected: Int) throws -> [[String: Any]] {
            _ = try daemon.eventually(20) {
                let t = tally(try entries(daemon, file))
                return try t.logged + t.lost >= expected && daemon.dropsIdle()
            }
            try waitUntil("rampartd's drop logging is idle") { try daemon.dropsIdle() }
            return try entries(daemon, file)
        }

        @Test func everyDiagnosticsCombinationRecordsExactlyWhatWasDropped() throws {
            try withLab { lab, cli in
                try cli.exec(
                    """
                    pushd ipsec static
                    add filteraction name=Block action=block
                    add filteraction name=Permit action=permit
                    add filter filterlist=B srcaddr=\(L.external4) dstaddr=me protocol=tcp dstport=23 mirrored=no
                    add filter filterlist=B srcaddr=\(L.internal4) dstaddr=me protocol=udp dstport=161 mirrored=no
                    add filter filterlist=B srcaddr=\(L.external4) dstaddr=me protocol=icmp mirrored=no
                    add filter filterlist=B srcaddr=me dstaddr=\(L.external4) protocol=udp dstport=9 mirrored=no
                    add filter filterlist=W srcaddr=any dstaddr=me protocol=tcp dstport=80 mirrored=yes
                    add policy name=P assign=yes
                    add rule name=b policy=P filterlist=B filteraction=Block
                    add rule name=w policy=P filterlist=W filteraction=Permit
                    popd

                    """)
                let (daemon, file) = try Self.daemon(lab, cli)
                defer { daemon.stop() }
                let probe = RampartCLI.probe
                for bits in 0...7 {
                    // Takes effect on the next apply, without a restart.
                    let set = try daemon.rampart(["dynamic", "set", "config", "ipsecdiagnostics", String(bits)])
                    #expect(set.status == 0, "\(set.err)")
                    try? FileManager.default.removeItem(atPath: file)
                    let before = try Self.kernelCounts(lab.server)
                    try lab.external.run([
                        "python3", probe, "segments", L.external4, L.serverExternal4, "23", "--count", "37"
                    ])
                    try GroupedFilterTests.send(5, from: lab.inside, L.internal4, to: L.serverInternal4, 161)
                    try lab.external.run(["python3", probe, "pings", L.serverExternal4, "--count", "3"])
                    try GroupedFilterTests.send(4, from: lab.server, L.serverExternal4, to: L.external4, 9)
                    try lab.external.run([
                        "python3", probe, "segments", L.external4, L.serverExternal4, "8080", "--count", "2", "--flags",
                        "SR"
                    ])
                    // Permitted: never a record.
                    try lab.external.run([
                        "python3", probe, "segments", L.external4, L.serverExternal4, "80", "--count", "3"
                    ])

                    var expected: [String: Int] = [:]
                    if bits & 1 != 0 {
                        expected["in F4 tcp \(L.external4) \(L.serverExternal4) 23"] = 37
                        expected["in F5 udp \(L.internal4) \(L.serverInternal4) 161"] = 5
                        expected["in F6 icmp \(L.external4) \(L.serverExternal4)"] = 3
                    }
                    if bits & 2 != 0 { expected["out F7 udp \(L.serverExternal4) \(L.external4) 9"] = 4 }
                    if bits & 4 != 0 { expected["in invalid tcp \(L.external4) \(L.serverExternal4) 8080"] = 2 }
                    let total = expected.values.reduce(0, +)
                    let (records, logged, lost) = Self.tally(try Self.settle(daemon, file, expected: total))
                    #expect(records == expected, "ipsecdiagnostics \(bits): \(records)")
                    #expect(logged == total && lost == 0, "ipsecdiagnostics \(bits): \(logged) logged, \(lost) lost")

                    // The kernel's own count of what the logged rules saw.
                    let kernel = Self.delta(try Self.kernelCounts(lab.server), before)
                    #expect(
                        kernel["input drop"] == 45 && kernel["output drop"] == 4,
                        "every round drops the same: \(kernel)")
                    let loggedByKernel =
                        (bits & 1 != 0 ? kernel["input drop"] ?? 0 : 0)
                        + (bits & 2 != 0 ? kernel["output drop"] ?? 0 : 0)
                        + (bits & 4 != 0 ? kernel["input log-invalid"] ?? 0 : 0)
                    #expect(
                        loggedByKernel == logged + lost,
                        "ipsecdiagnostics \(bits): totals reconcile with the counters \(kernel)")
                    if bits & 4 != 0 {
                        #expect(kernel["input log-invalid"] == 2 && kernel["output log-invalid"] == nil, "\(kernel)")
                    }
                }
                // The human lines name the filter with its origin, the interface, and the interval's total.
                #expect(
                    daemon.log().contains(
                        "drop in F4 [local/P/b/B/#1]: tcp \(L.external4) -> \(L.serverExternal4) port 23 on "),
                    "\(daemon.log())")
                #expect(
                    daemon.log().contains("45 logged (45 in 3 record(s), 0 not itemised), 0 lost"), "\(daemon.log())")
                #expect(
                    !daemon.log().contains("RAMPART_") && !daemon.log().contains("MESSAGE_ID"),
                    "journal fields stay out of stderr")
            }
        }

        /// Before the policy is in force (here: the store cannot be read, so the boot ruleset stays),
        /// the boot mode's drops are recorded as `boot-mode`, in and out as the bits say.
        @Test func bootModeDropsAreRecorded() throws {
            try withLab { lab, _ in
                for bits in [0, 1, 2, 7] {
                    let cli = try RampartCLI()
                    defer { cli.cleanup() }
                    try cli.exec(
                        """
                        ipsec dynamic set config bootmode block
                        ipsec dynamic set config ipsecdiagnostics \(bits)

                        """)
                    // The boot settings are readable; the store is not.
                    try "{ not a store".write(toFile: cli.store, atomically: true, encoding: .utf8)
                    let (daemon, file) = try Self.daemon(lab, cli)
                    defer { daemon.stop() }
                    #expect(daemon.log().contains("the boot ruleset stays in force"), "\(daemon.log())")
                    let before = try Self.kernelCounts(lab.server)
                    try GroupedFilterTests.send(6, from: lab.external, L.external4, to: L.serverExternal4, 161)
                    try GroupedFilterTests.send(3, from: lab.server, L.serverExternal4, to: L.external4, 9)
                    var expected: [String: Int] = [:]
                    if bits & 1 != 0 { expected["in boot-mode udp \(L.external4) \(L.serverExternal4) 161"] = 6 }
                    if bits & 2 != 0 { expected["out boot-mode udp \(L.serverExternal4) \(L.external4) 9"] = 3 }
                    let total = expected.values.reduce(0, +)
                    let (records, logged, lost) = Self.tally(try Self.settle(daemon, file, expected: total))
                    #expect(records == expected, "boot, ipsecdiagnostics \(bits): \(records)")
                    #expect(logged == total && lost == 0)
                    let kernel = Self.delta(try Self.kernelCounts(lab.server), before)
                    #expect(
                        (kernel["input boot-log"] ?? 0) == (bits & 1 != 0 ? 6 : 0)
                            && (kernel["output boot-log"] ?? 0) == (bits & 2 != 0 ? 3 : 0),
                        "the boot log rules' own counters: \(kernel)")
                }
            }
        }

        /// The W3C file, read back by Python's csv module with the #Fields directive as the header.
        @Test func theW3CLogReadsBackWithAnIndependentParser() throws {
            try withLab { lab, cli in
                try cli.exec(
                    """
                    pushd ipsec static
                    add filteraction name=Block action=block
                    add filter filterlist=B srcaddr=\(L.external4) dstaddr=me protocol=udp dstport=6001 mirrored=no
                    add filter filterlist=B srcaddr=203.0.113.99 dstaddr=me protocol=udp dstport=6001 mirrored=no
                    add policy name=P assign=yes
                    add rule name=b policy=P filterlist=B filteraction=Block
                    popd
                    ipsec dynamic set config ipsecdiagnostics 1

                    """)
                let (daemon, logFile) = try Self.daemon(lab, cli)
                defer { daemon.stop() }
                try GroupedFilterTests.send(4, from: lab.external, L.external4, to: L.serverExternal4, 6001)
                #expect(
                    daemon.eventually(20) {
                        daemon.log().contains("4 logged (4 in 1 record(s), 0 not itemised), 0 lost")
                    },
                    "\(daemon.log())")
                let parsed = try sh([
                    "python3", "-c",
                    """
                    import csv, json, sys
                    lines = open(sys.argv[1]).read().splitlines()
                    assert lines[0] == "#Version: 1.0" and lines[2] == "#Time Format: UTC", lines[:3]
                    fields = next(l for l in lines if l.startswith("#Fields: "))[len("#Fields: "):].split(" ")
                    rows = [dict(zip(fields, r)) for r in csv.reader([l for l in lines if not l.startswith("#")], delimiter=" ")]
                    print(json.dumps(rows))
                    """, logFile
                ]).out
                let rows = try JSONSerialization.jsonObject(with: Data(parsed.utf8)) as? [[String: String]]
                let row = try #require(rows?.first, "\(parsed)")
                #expect(rows?.count == 1)
                #expect(
                    row["action"] == "DROP" && row["protocol"] == "UDP" && row["src-ip"] == L.external4
                        && row["dst-ip"] == L.serverExternal4)
                #expect(
                    row["dst-port"] == "6001" && row["src-port"] == "-" && row["count"] == "4"
                        && row["direction"] == "in")
                #expect(row["filter"] == "F3" && row["rule"] == "b" && row["policy"] == "P", "\(row)")
                // `ip -o addr show to A`: "3: v123@if2    inet 203.0.113.1/24 …"
                let link = try lab.server.run(["ip", "-o", "addr", "show", "to", L.serverExternal4]).out
                    .split(separator: " ").dropFirst().first?.split(separator: "@").first.map(String.init)
                #expect(
                    row["filterlist"] == "B" && row["origin"] == "local/P/b/B/#1" && row["interface"] == link
                        && row["icmptype"] == "-" && row["last-date"] == row["date"], "the trailing fields: \(row)")
                // With no journal here, `rampart logs` reads the running rampartd's log_file, as the
                // README's command is written (`--since -1h`, two words).
                try waitUntil("the record is in the drop log file") { try daemon.dropsIdle() }
                let logs = try daemon.rampart(["logs", "--since", "-1h", "--format", "csv"])
                #expect(
                    logs.out.split(separator: "\n").count == 2 && logs.out.contains(",\(L.serverExternal4),6001,"),
                    "\(logs.out) \(logs.err)")
            }
        }

        /// Every UDP datagram from the external host blocked, inbound drops logged: the flood tests' policy.
        static let udpFromExternalBlockedAndLogged = """
            pushd ipsec static
            add filteraction name=Block action=block
            add filter filterlist=B srcaddr=\(L.external4) dstaddr=me protocol=udp mirrored=no
            add policy name=P assign=yes
            add rule name=b policy=P filterlist=B filteraction=Block
            popd
            ipsec dynamic set config ipsecdiagnostics 1

            """

        /// Peak and current resident memory of a process, in KiB (VmHWM, VmRSS).
        static func memory(_ pid: Int32) -> (peak: Int, now: Int) {
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            func kib(_ key: String) -> Int {
                status.split(separator: "\n").first { $0.hasPrefix(key + ":") }.flatMap {
                    Int($0.split(separator: " ").dropFirst().first ?? "")
                } ?? 0
            }
            return (kib("VmHWM"), kib("VmRSS"))
        }

        /// 100,000 datagrams a second for 10 s (bounded: at most a million) to 3,000 ports, each drop
        /// logged: rampartd's memory stays bounded, each interval writes at most its bounded number
        /// of records, and every drop the kernel counted is itemised, not itemised, or lost.
        @Test func aFloodIsAccountedForExactlyInBoundedMemory() throws {
            try withLab { lab, cli in
                try cli.exec(Self.udpFromExternalBlockedAndLogged)
                // 2 s intervals: at most min(log_records, 100 × 2) = 200 records each.
                let (daemon, file) = try Self.daemon(lab, cli, interval: 2)
                defer { daemon.stop() }
                let pid = try #require(daemon.process?.processIdentifier)
                #expect(
                    (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.hasPrefix("rampartd") == true)
                let idle = Self.memory(pid)
                let before = try Self.kernelCounts(lab.server)
                let sent =
                    Int(
                        try lab.external.run([
                            "python3", RampartCLI.probe, "flood", L.serverExternal4, "--rate", "100000", "--seconds",
                            "10",
                            "--ports", "1-3000"
                        ]).out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
                let counted = Self.delta(try Self.kernelCounts(lab.server), before)["input drop"] ?? 0
                _ = try daemon.eventually(60) {
                    let t = Self.tally(try Self.entries(daemon, file))
                    return t.logged + t.lost >= counted
                }
                let flooded = Self.memory(pid)
                let entries = try Self.entries(daemon, file)
                let totals = entries.filter { $0["type"] as? String == "total" }
                let logged = totals.reduce(0) { $0 + ($1["logged"] as! Int) },
                    lost = totals.reduce(0) { $0 + ($1["lost"] as! Int) }
                let itemised = totals.reduce(0) { $0 + ($1["itemised"] as! Int) },
                    notItemised = totals.reduce(0) { $0 + ($1["notItemised"] as! Int) }
                print(
                    "flood: \(sent) sent, \(counted) dropped by the kernel, \(logged) logged (\(itemised) itemised, \(notItemised) not), \(lost) lost, "
                        + "\(totals.count) intervals, \(entries.count - totals.count) records; rampartd RSS \(idle.now) KiB idle, peak \(flooded.peak) KiB"
                )
                #expect(counted > 0 && counted <= sent)
                #expect(
                    logged + lost == counted,
                    "every drop the kernel counted is accounted for: \(logged) logged + \(lost) lost vs \(counted)")
                #expect(itemised + notItemised == logged)
                #expect(
                    totals.allSatisfy { ($0["records"] as! Int) <= 200 },
                    "bounded per interval: \(totals.map { $0["records"]! })")
                #expect(entries.count - totals.count <= 200 * totals.count)
                #expect(underSanitizer || flooded.peak < 96 * 1024, "rampartd's peak RSS \(flooded.peak) KiB")
            }
        }

        /// With rampartd stopped (SIGSTOP), a burst fills its NFLOG socket and the kernel drops the
        /// rest; no packet follows, so no sequence gap ever shows that loss. Reconciling with the
        /// kernel's counters once the socket is drained counts it: logged + lost equals the counters.
        @Test func dropsLostAfterTheLastDeliveredPacketAreCounted() throws {
            try withLab { lab, cli in
                try cli.exec(Self.udpFromExternalBlockedAndLogged)
                let (daemon, file) = try Self.daemon(lab, cli, interval: 2)
                defer { daemon.stop() }
                let pid = try #require(daemon.process?.processIdentifier)
                let before = try Self.kernelCounts(lab.server)
                kill(pid, SIGSTOP)
                // 8 MB of receive buffer holds some 30,000 batched records (measured): the rest of 100,000 is lost.
                let sent = try lab.external.run([
                    "python3", RampartCLI.probe, "flood", L.serverExternal4, "--rate", "100000", "--seconds", "1",
                    "--ports", "1-100"
                ]).out
                // The flood's last packets may still be on their way through the rules: counted once
                // the counters stop moving.
                var last: [String: Int] = [:]
                try waitUntil("the kernel's counters stop moving") {
                    let now = try Self.kernelCounts(lab.server)
                    defer { last = now }
                    return now == last
                }
                let counted = Self.delta(last, before)["input drop"] ?? 0
                kill(pid, SIGCONT)
                // Its 2 s interval has just begun (and the overrun is still to be reconciled): not idle.
                let activity = try #require(try daemon.status()["drops"] as? [String: Any])
                #expect(activity["idle"] as? Bool == false, "\(activity)")
                let (_, logged, lost) = Self.tally(try Self.settle(daemon, file, expected: counted))
                print(
                    "stopped reader: \(sent.trimmingCharacters(in: .whitespacesAndNewlines)) sent, \(counted) dropped by the kernel, \(logged) logged, \(lost) lost"
                )
                #expect(counted > 0 && logged > 0 && lost > 0)
                #expect(
                    logged + lost == counted,
                    "every drop the kernel counted is accounted for: \(logged) logged + \(lost) lost vs \(counted)")
                #expect(daemon.log().contains("after the last delivered packet are counted as lost"), "\(daemon.log())")
            }
        }
    }
}
