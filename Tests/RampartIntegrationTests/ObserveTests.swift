import Foundation
import Testing
import RampartNamespaceKit
import RampartTestKit

/// `rampart metrics` and `rampart monitor` against a rampartd enforcing a policy in a namespace,
/// with real traffic: the numbers they show are the kernel's.
@Suite(.serialized) struct ObserveTests {
    typealias L = Lab

    static let policy = """
        pushd ipsec static
        add filteraction name=Block action=block
        add filteraction name=Permit action=permit
        add filter filterlist=Ban srcaddr=\(L.external4) dstaddr=me protocol=udp dstport=161 mirrored=no description="SNMP from outside"
        add filter filterlist=DNS srcaddr=me dstaddr=DNS protocol=udp dstport=53 mirrored=yes
        add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=80 mirrored=yes
        add policy name="Lab Server" assign=yes
        add rule name=ban policy="Lab Server" filterlist=Ban filteraction=Block
        add rule name=dns policy="Lab Server" filterlist=DNS filteraction=Permit
        add rule name=web policy="Lab Server" filterlist=Web filteraction=Permit
        popd
        ipsec dynamic set config ipsecdiagnostics 1

        """

    func daemon(_ lab: Lab, _ cli: RampartCLI, extra: String = "") throws -> DaemonHarness {
        try cli.exec(Self.policy)
        let resolv = cli.directory.appendingPathComponent("resolv.conf").path
        try "nameserver \(L.internal4)\n".write(toFile: resolv, atomically: true, encoding: .utf8)
        let d = try DaemonHarness(
            cli: cli, ns: lab.server, config: "resolv_conf = \(resolv)\nlog_interval_seconds = 1\n" + extra)
        try d.start()
        return d
    }

    /// Every sample line is `name{labels} value`, every family declared before its samples.
    static func checkExposition(_ text: String) -> [String] {
        var problems: [String] = []
        var declared: Set<String> = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                declared.insert(String(line.split(separator: " ")[2]))
                continue
            }
            if line.hasPrefix("#") { continue }
            guard line.wholeMatch(of: /[a-z_:][a-z0-9_:]*(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+]+/) != nil else {
                problems.append("bad line: \(line)")
                continue
            }
            let name = String(line.prefix { $0 != "{" && $0 != " " })
            let family = ["_sum", "_count", "_total"].reduce(name) {
                $0.hasSuffix($1) ? String($0.dropLast($1.count)) : $0
            }
            if !declared.contains(name) && !declared.contains(family) { problems.append("no TYPE before \(name)") }
        }
        return problems
    }

    static func value(_ text: String, _ series: String) -> Int? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap {
            Int($0.split(separator: " ").last ?? "")
        }
    }

    @Test func metricsCountWhatTheKernelCounted() throws {
        try withLab { lab, cli in
            let textfile = cli.directory.appendingPathComponent("rampart.prom").path
            let d = try daemon(lab, cli, extra: "metrics_textfile = \(textfile)\nmetrics_interval_seconds = 1\n")
            defer { d.stop() }
            try GroupedFilterTests.send(5, from: lab.external, L.external4, to: L.serverExternal4, 161)
            #expect(
                d.eventually(20) { d.log().contains("5 logged (5 in 1 record(s), 0 not itemised), 0 lost") },
                "\(d.log())")
            let text = try d.rampart(["metrics"]).out
            #expect(Self.checkExposition(text) == [], "\(text)")
            #expect(Self.value(text, #"rampart_filter_packets_total{filter="F4",chain="input"}"#) == 5, "\(text)")
            #expect(
                Self.value(text, #"rampart_filter_packets_total{filter="F6",chain="output"}"#) == 0,
                "a permit filter's series, at 0")
            #expect(
                Self.value(text, #"rampart_filter_bytes_total{filter="F4",chain="input"}"#) == 5 * 60,
                "28 bytes of headers, 32 of data")
            #expect(Self.value(text, #"rampart_drops_logged_total{direction="in",kind="filter"}"#) == 5)
            #expect(
                Self.value(text, #"rampart_log_events_total{outcome="itemised"}"#) == 5
                    && Self.value(text, #"rampart_log_events_total{outcome="lost"}"#) == 0)
            #expect(Self.value(text, #"rampart_set_elements{set="dns_v4"}"#) == 1, "the DNS server from resolv.conf")
            #expect(
                Self.value(text, "rampart_healthy") == 1 && Self.value(text, #"rampart_enforcing{mode="policy"}"#) == 1)
            #expect(
                (Self.value(text, "rampart_applies_total") ?? 0) >= 1
                    && Self.value(text, "rampart_apply_failures_total") == 0)
            let open = try d.rampart(["metrics", "--openmetrics"]).out
            #expect(
                open.hasSuffix("# EOF\n") && open.contains("# TYPE rampart_filter_packets counter\n")
                    && open.contains("# UNIT rampart_filter_bytes bytes\n"))
            #expect(Self.checkExposition(open) == [], "\(open)")
            // The node_exporter textfile, rewritten each second: the same series.
            #expect(
                d.eventually(10) {
                    ((try? String(contentsOfFile: textfile, encoding: .utf8)).flatMap {
                        Self.value($0, #"rampart_drops_logged_total{direction="in",kind="filter"}"#)
                    }) == 5
                })
            // A group member may read them; an outsider may not.
            #expect(try d.rampart(["metrics"], allowFailure: true, user: "nobody").status != 0)
        }
    }

    @Test func monitorShowsThePolicyBothFilterViewsAndLiveCounters() throws {
        try withLab { lab, cli in
            let d = try daemon(lab, cli)
            defer { d.stop() }
            try GroupedFilterTests.send(3, from: lab.external, L.external4, to: L.serverExternal4, 161)
            #expect(d.eventually(20) { d.log().contains("3 logged") })
            let frame = try d.rampart(["monitor", "--once"]).out
            #expect(
                frame.contains(
                    #"Policy: local: "Lab Server", persistent: none assigned; enforcing policy; boot mode stateful"#),
                "\(frame)")
            #expect(frame.contains("Generic filters (as configured)") && frame.contains("Specific filters"))
            let lines = frame.split(separator: "\n").map {
                $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            }
            #expect(
                lines.contains { $0.hasPrefix("F6 me DNS UDP any 53 yes permit permit local/Lab Server/dns/DNS/#1") },
                "generic: DNS as configured, mirrored\n\(frame)")
            #expect(
                lines.contains { $0.hasPrefix("F6 me \(L.internal4) UDP any 53 permit 0 0") },
                "specific: DNS expanded to resolv.conf's server\n\(frame)")
            #expect(
                lines.contains { $0.hasPrefix("F6m \(L.internal4) me UDP 53 any permit") },
                "specific: the mirror half\n\(frame)")
            #expect(
                lines.contains { $0.hasPrefix("F4 \(L.external4) me UDP any 161 block 3 180") },
                "the block filter's counter: 3 datagrams of 60 bytes\n\(frame)")
            #expect(
                lines.contains { $0.contains(" in F4 udp \(L.external4) \(L.serverExternal4) 161 3") },
                "the last drops\n\(frame)")
            #expect(lines.contains { $0.hasPrefix("DNS \(L.internal4) ") }, "the DNS set and its source\n\(frame)")
            let json =
                try JSONSerialization.jsonObject(with: Data(try d.rampart(["monitor", "--json"]).out.utf8))
                as? [String: Any]
            let generic = (json?["generic"] as? [Any])?.count ?? 0, specific = (json?["specific"] as? [Any])?.count ?? 0
            #expect(
                generic == 3 && specific == 5,
                "3 filters as configured; 5 halves (2 mirrored), DNS one address: \(generic), \(specific)")
        }
    }

    /// As a person would: in a terminal (tmux), watch the counter rise, press q, get the shell back.
    @Test func monitorRunsInATerminalAndQuitsCleanly() throws {
        try withLab { lab, cli in
            let d = try daemon(lab, cli)
            defer { d.stop() }
            let session = "rampart-monitor-\(getpid())"
            // The tmux server must not hold the test's pipes open.
            try sh([
                "bash", "-c",
                "tmux new-session -d -s \(session) -x 200 -y 60 bash --norc --noprofile </dev/null >/dev/null 2>&1"
            ])
            defer { _ = try? sh(["tmux", "kill-session", "-t", session], allowFailure: true) }
            func pane() throws -> String { try sh(["tmux", "capture-pane", "-p", "-t", session]).out }
            func alternate() throws -> String {
                try sh(["tmux", "display-message", "-p", "-t", session, "#{alternate_on}"]).out.trimmingCharacters(
                    in: .whitespacesAndNewlines)
            }
            try sh([
                "tmux", "send-keys", "-t", session,
                "env RAMPART_SOCKET=\(d.socket) \(RampartCLI.binary) monitor --interval 0.5; echo MONITOR-EXIT=$?",
                "Enter"
            ])
            #expect(try d.eventually(15) { try pane().contains("Rampart monitor") })
            #expect(try alternate() == "1", "the monitor uses the alternate screen")
            func f4Packets() throws -> Int? {
                let rows: [[String]] = try pane().split(separator: "\n").map { line in
                    line.split(separator: " ").map(String.init)
                }
                guard let row = rows.first(where: { $0.first == "F4" && $0.count > 7 && $0[6] == "block" }) else {
                    return nil
                }
                return Int(row[7])
            }
            let start = try pane()
            #expect(try f4Packets() == 0, "\(start)")
            try GroupedFilterTests.send(7, from: lab.external, L.external4, to: L.serverExternal4, 161)
            let rose = try d.eventually(10) { try f4Packets() == 7 }
            let screen = try pane()
            #expect(rose, "the counter rises on screen: \(screen)")
            try sh(["tmux", "send-keys", "-t", session, "q"])
            let exited = try d.eventually(10) { try pane().contains("MONITOR-EXIT=0") }
            let after = try pane()
            #expect(exited, "\(after)")
            #expect(try alternate() == "0", "the terminal is back on the main screen")
            #expect(!after.contains("Generic filters"), "nothing of the monitor is left on the screen")
        }
    }
}
