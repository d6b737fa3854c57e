import Foundation
import Testing
import RampartControl
import RampartNamespaceKit
import RampartTestKit

/// rampartd against the real kernel, each test in its own namespaces.
@Suite(.serialized) struct DaemonTests {
    static let policy = """
        pushd ipsec static
        add filteraction name=Permit action=permit
        add filteraction name=Block action=block
        add filter filterlist=Everything srcaddr=any dstaddr=any description="Block all"
        add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=80 mirrored=yes
        add policy name=Server assign=yes
        add rule name=Block policy=Server filterlist=Everything filteraction=Block
        add rule name=Web policy=Server filterlist=Web filteraction=Permit
        popd
        ipsec dynamic set config bootmode block
        ipsec dynamic set config bootexemptions tcp:0:22:inbound
        """

    /// The boot mode is enforced before the policy, and READY=1 comes only after the policy is committed.
    @Test func startupEnforcesBootModeThenPolicyThenReady() throws {
        try withDaemon { daemon, ns in
            let messages = try daemon.start()
            let flat = messages.joined(separator: "|")
            #expect(flat.contains("STATUS=boot mode block enforced; loading the policy"), "\(flat)")
            let bootIndex = messages.firstIndex { $0.contains("boot mode block enforced") }
            let readyIndex = messages.firstIndex { $0.contains("READY=1") }
            #expect(bootIndex != nil && readyIndex != nil && bootIndex! < readyIndex!)
            // At READY the policy, not the boot ruleset, is in force.
            let listing = try ns.nftList()
            #expect(listing.contains("comment \"F4\""))
            #expect(!listing.contains("boot-dhcpv4"))
            let log = daemon.log()
            let bootLine = log.range(of: "boot mode block enforced")!.lowerBound
            let applyLine = log.range(of: "applied the policy (startup)")!.lowerBound
            #expect(bootLine < applyLine)
            let status = try daemon.request(ControlRequest(op: .status))
            #expect(status.ok && status.text.contains("rampartd running"))
            #expect(status.json?.contains(#""state": "running""#) == true)
        }
    }

    @Test func aMissingStoreMeansNoPolicySaidLoudly() throws {
        try withDaemon("") { daemon, ns in
            try daemon.start()
            let status = try daemon.request(ControlRequest(op: .status))
            #expect(status.text.contains("missing: no policy is assigned, traffic is not filtered"))
            #expect(daemon.log().contains("no policy is assigned and traffic is not filtered"))
            #expect(try ns.nftList().contains("policy accept;"))
        }
    }

    /// A corrupt store keeps the boot ruleset (fail closed), still reports ready, and says degraded.
    @Test func aCorruptStoreKeepsTheBootRulesetAndIsReportedDegraded() throws {
        try withDaemon { daemon, ns in
            var text = try String(contentsOfFile: daemon.cli.store, encoding: .utf8)
            text.removeLast(200)
            try text.write(toFile: daemon.cli.store, atomically: true, encoding: .utf8)
            try daemon.start()
            let listing = try ns.nftList()
            #expect(
                listing.contains("policy drop;") && listing.contains("boot-dhcpv4"), "the boot ruleset (block) stays")
            let status = try daemon.request(ControlRequest(op: .status))
            #expect(status.json?.contains(#""state": "degraded""#) == true)
            #expect(status.text.contains("corrupt"))
        }
    }

    /// kill -9 leaves the ruleset; a restart reconciles without a gap: a continuous probe at a
    /// blocked port gets nothing through while the daemon is down and starting again.
    @Test func killAndRestartLeaveNoGap() throws {
        try withLab { lab, cli in
            try cli.exec(Self.policy)
            let daemon = try DaemonHarness(cli: cli, ns: lab.server)
            defer { daemon.stop() }
            try daemon.start()
            try lab.listen(lab.server, tcp: [80, 8080])
            #expect(try lab.tcp(from: lab.inside, Lab.serverInternal4, 80))
            let probe = try lab.inside.spawnCapturing([
                "python3", RampartCLI.probe, "attempts", Lab.serverInternal4, "8080", "--seconds", "3"
            ])
            // The probe's attempts reach the block rule before the daemon goes, and go on while it is down.
            try waitUntil("the probe's attempts are dropped") { try rampartDrops(lab.server, chain: "input") > 0 }
            daemon.kill9()
            #expect(try lab.server.nftList().contains("comment \"F4\""), "the ruleset outlives the daemon")
            let whileUp = try rampartDrops(lab.server, chain: "input")
            try waitUntil("attempts are dropped while the daemon is down") {
                try rampartDrops(lab.server, chain: "input") > whileUp
            }
            try daemon.start()
            let result = probe.finish()
            let through = Int(result.split(separator: " ").first ?? "") ?? -1
            let tried = Int(result.split(separator: " ").dropFirst(2).first ?? "") ?? 0
            #expect(through == 0, "connections to a blocked port got through during the restart: \(result)")
            #expect(tried > 10, "the probe ran: \(result)")
            #expect(try lab.tcp(from: lab.inside, Lab.serverInternal4, 80))
        }
    }

    @Test func sighupWithACorruptStoreKeepsTheRulesAndWithAGoodOneApplies() throws {
        try withDaemon { daemon, ns in
            try daemon.start()
            let before = try ns.nftList()
            let good = try String(contentsOfFile: daemon.cli.store, encoding: .utf8)
            try String(good.dropLast(100)).write(toFile: daemon.cli.store, atomically: true, encoding: .utf8)
            daemon.signal(SIGHUP)
            #expect(
                try daemon.eventually(5) {
                    try daemon.request(ControlRequest(op: .status)).json?.contains(#""state": "degraded""#) == true
                })
            #expect(try ns.nftList() == before, "the running ruleset stays")
            #expect(daemon.log().contains("the running ruleset stays in force"))
            // Repair and change the store offline, then SIGHUP: applied.
            try good.write(toFile: daemon.cli.store, atomically: true, encoding: .utf8)
            try daemon.cli.exec(
                "ipsec static add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=8443")
            daemon.signal(SIGHUP)
            #expect(try daemon.eventually(5) { try ns.nftList().listsPort(8443) })
            #expect(try daemon.request(ControlRequest(op: .status)).json?.contains(#""state": "running""#) == true)
        }
    }

    @Test func burstsOfSighupCoalesce() throws {
        try withDaemon { daemon, _ in
            try daemon.start()
            for _ in 0..<20 { daemon.signal(SIGHUP) }
            #expect(daemon.eventually(5) { daemon.log().contains("reloaded:") })
            // Every signal is taken (rampartd waits in sigwait, none pending) and no reload runs or waits.
            try waitUntil("rampartd has taken every SIGHUP and reloaded") {
                try daemon.waitsForSignals()
                    && (try daemon.status()["reloads"] as? [String: Any])?["underWay"] as? Bool == false
            }
            let reloads = daemon.log().components(separatedBy: "notice rampartd: [RampartDaemon] reloading").count - 1
            #expect(reloads >= 1 && reloads <= 3, "\(reloads) reloads for 20 signals")
        }
    }

    @Test func anExternalDeleteIsUndoneWithinASecond() throws {
        try withDaemon { daemon, ns in
            try daemon.start()
            try ns.run(["nft", "delete", "table", "inet", "rampart"])
            #expect(try daemon.eventually(1) { try ns.nftList().contains("comment \"F4\"") })
            try ns.run(["nft", "flush", "chain", "inet", "rampart", "input"])
            #expect(try daemon.eventually(1) { try ns.nftList().components(separatedBy: "comment \"F4\"").count == 3 })
            #expect(daemon.log().contains("table inet rampart was changed by nft"))
        }
    }

    @Test func sigtermLeavesTheRulesetInForce() throws {
        try withDaemon { daemon, ns in
            try daemon.start()
            daemon.signal(SIGTERM)
            #expect(daemon.eventually(5) { daemon.process?.isRunning == false })
            #expect(try ns.nftList().contains("comment \"F4\""))
            #expect(daemon.log().contains("SIGTERM: stopping; the policy ruleset stays in force"))
        }
    }

    /// Found by the soak test: the service manager's notify socket is full (nobody reads it, as
    /// when systemd is busy). rampartd used to block in sendto() on the engine thread, and then
    /// answered nothing and restored nothing. Now it drops the notification, says so, and goes on.
    @Test func aFullNotifySocketNeverStopsTheDaemon() throws {
        try withDaemon { daemon, ns in
            try daemon.start()
            // The harness reads nothing from here on; the socket's queue holds 10 datagrams by default.
            for _ in 0..<30 {
                let reload = try daemon.rampart(["reload"], allowFailure: true, timeout: 20)
                #expect(reload.status == 0, "\(reload.err)")
            }
            let status = try daemon.rampart(["status"], allowFailure: true, timeout: 20)
            #expect(status.status == 0 && status.out.contains("rampartd running"), "\(status.err)")
            try ns.run(["nft", "delete", "table", "inet", "rampart"])
            #expect(try daemon.eventually(5) { try ns.nftList().contains("comment \"F4\"") }, "the table is restored")
            #expect(daemon.log().contains("the notify socket is full"), "the drops are logged")
        }
    }

    /// The real daemon's status lists each service, running; SIGTERM stops them through
    /// cancellation: exit status 0, STOPPING=1, the socket removed, the ruleset still in force.
    @Test func statusShowsEachServiceAndStopIsClean() throws {
        try withDaemon { daemon, ns in
            try daemon.start()
            let status = try daemon.request(ControlRequest(op: .status))
            for service in ["nftables-monitor", "routes", "files", "lookups", "timers"] {
                #expect(
                    status.text.split(separator: "\n").contains { $0.contains(service) && $0.hasSuffix("running") },
                    "\(service) in: \(status.text)")
                #expect(status.json?.contains("\"\(service)\"") == true)
            }
            daemon.signal(SIGTERM)
            #expect(daemon.eventually(5) { daemon.process?.isRunning == false })
            #expect(daemon.process?.terminationStatus == 0, "a clean stop exits 0: \(daemon.log())")
            #expect(daemon.notify.wait(for: "STOPPING=1", seconds: 1) != nil, "STOPPING=1 was sent")
            #expect(!FileManager.default.fileExists(atPath: daemon.socket))
            #expect(try ns.nftList().contains("comment \"F4\""))
        }
    }

    /// root may change, the control group may query, everyone else is refused.
    @Test func socketAccessFollowsPeerCredentials() throws {
        let tag = String(UInt32.random(in: 0...0xffff), radix: 16)
        let group = "rt-g\(tag)", member = "rt-m\(tag)", other = "rt-o\(tag)"
        try sh(["groupadd", "--system", group])
        try sh(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "-G", group, member])
        try sh(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", other])
        defer {
            _ = try? sh(["userdel", member], allowFailure: true)
            _ = try? sh(["userdel", other], allowFailure: true)
            _ = try? sh(["groupdel", group], allowFailure: true)
        }
        try withDaemon(config: "control_group = \(group)\n") { daemon, _ in
            try daemon.start()
            // Unprivileged users must reach the socket's directory.
            chmod(daemon.cli.directory.path, 0o755)
            #expect(try daemon.rampart(["status"]).out.contains("rampartd running"))
            #expect(try daemon.rampart(["static", "add", "policy", "name=ByRoot"]).status == 0)
            // Through rampartd too, a new host name that does not resolve is warned with its name.
            let named = try daemon.rampart([
                "static", "add", "filter", "filterlist=U", "srcaddr=me", "dstaddr=no-such-host.invalid"
            ])
            #expect(
                named.status == 0 && named.err.contains("rampart: warning: host name 'no-such-host.invalid' d"),
                "\(named.err)")
            let memberStatus = try daemon.rampart(["status"], user: member)
            #expect(memberStatus.status == 0 && memberStatus.out.contains("rampartd running"), "\(memberStatus.err)")
            #expect(try daemon.rampart(["show", "policy", "ByRoot"], user: member).status == 0)
            let memberChange = try daemon.rampart(
                ["static", "add", "policy", "name=ByMember"], allowFailure: true, user: member)
            #expect(memberChange.status != 0 && memberChange.err.contains("needs root"), "\(memberChange.err)")
            let otherStatus = try daemon.rampart(["status"], allowFailure: true, user: other)
            #expect(otherStatus.status != 0 && otherStatus.err.contains("permission denied"), "\(otherStatus.err)")
        }
    }

    @Test func manyConcurrentClientsAndBadRequests() throws {
        // These clients run as root, whose own request limit is larger (max_request_bytes_root).
        try withDaemon(config: "max_request_bytes_root = 1048576\n") { daemon, _ in
            try daemon.start()
            let socket = daemon.socket
            let results = ResultBox()
            DispatchQueue.concurrentPerform(iterations: 100) { _ in
                do {
                    results.add(try ControlClient.send(ControlRequest(op: .status), to: socket).ok ? nil : "not ok")
                } catch {
                    results.add("\(error)")
                }
            }
            #expect(results.count == 100 && results.errors.isEmpty, "\(results.errors.prefix(3))")
            let raw = try sh(["python3", "-c", Self.badClients, socket]).out
            #expect(raw.contains("garbage: malformed request"), "\(raw)")
            #expect(raw.contains("oversized: request too large"), "\(raw)")
            #expect(raw.contains("half-closed: ok"), "\(raw)")
            #expect(raw.contains("unknown op: unknown operation"), "\(raw)")
            #expect(try daemon.request(ControlRequest(op: .status)).ok, "the daemon survived")
        }
    }

    static let badClients = #"""
        import json, socket, sys
        path = sys.argv[1]
        def ask(payload, half_close=False):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(10)
            s.connect(path)
            try:
                s.sendall(payload)
            except OSError:
                pass
            if half_close:
                s.shutdown(socket.SHUT_WR)
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            s.close()
            reply = json.loads(data)
            return "ok" if reply["ok"] else reply["error"]
        print("garbage:", ask(b"this is not json\n"))
        print("oversized:", ask(b"x" * (2 * 1024 * 1024)))
        print("half-closed:", ask(b'{"op":"status"}', half_close=True))
        print("unknown op:", ask(b'{"op":"format c:"}\n'))
        """#

    /// A negotiate policy with no charon to negotiate: applied (its clear traffic is dropped, as it
    /// says until an SA carries it), and the exec fails saying so.
    @Test func aNegotiatePolicyWithoutCharonIsAppliedAndTheExecSaysItIsNotAsWritten() throws {
        try withDaemon(config: "ipsec_vici_socket = /nonexistent/charon.vici\n") { daemon, ns in
            try daemon.start()
            let file = try daemon.cli.file(
                "negotiate.netsh", IPsecTests.policy(peer: "198.51.100.10", psk: "s3cret"))
            let r = try daemon.rampart(["exec", file], allowFailure: true)
            #expect(r.status == 1)
            #expect(
                r.err.contains("rampart: error: applied, but not as written: charon at /nonexistent/charon.vici: "),
                "\(r.err)")
            #expect(r.err.contains("start charon (or remove the negotiate rules)"), "\(r.err)")
            #expect(try ns.nftList().listsPort(5001), "applied")
            #expect(try daemon.rampart(["dump"]).out.contains("action=negotiate"), "stored")
        }
    }

    @Test func execConfirmRollsBackUnlessConfirmed() throws {
        try withDaemon { daemon, ns in
            try daemon.start()
            let before = try ns.nftList()
            let storeBefore = try String(contentsOfFile: daemon.cli.store, encoding: .utf8)
            let change = try daemon.cli.file(
                "change.netsh",
                "ipsec static add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=2222\n")
            let applied = try daemon.rampart(["exec", "--confirm", "2", change])
            #expect(applied.out.contains("run 'rampart confirm' within 2 seconds"))
            #expect(try ns.nftList().listsPort(2222))
            // Nobody confirms: the previous policy and store come back.
            #expect(try daemon.eventually(6) { try ns.nftList() == before })
            #expect(try String(contentsOfFile: daemon.cli.store, encoding: .utf8) == storeBefore)
            #expect(daemon.log().contains("change not confirmed in time: rolling back"))
            // Confirmed: the change stays.
            try daemon.rampart(["exec", "--confirm", "2", change])
            #expect(try daemon.rampart(["confirm"]).out.contains("confirmed"))
            // The rollback's deadline is gone with the pending change: nothing is left to roll back.
            #expect(try daemon.status()["pendingConfirm"] == nil)
            #expect(try daemon.rampart(["status"]).out.contains("PENDING") == false)
            #expect(try ns.nftList().listsPort(2222))
            #expect(try daemon.rampart(["confirm"], allowFailure: true).status != 0, "nothing left to confirm")
        }
    }

    @Test func theCLIGoesThroughTheDaemonAndDynamicRulesLiveThere() throws {
        try withDaemon { daemon, ns in
            try daemon.start()
            let add = try daemon.rampart([
                "static", "add", "filter", "filterlist=Web", "srcaddr=any", "dstaddr=me", "protocol=tcp", "dstport=4443"
            ])
            #expect(add.err.contains("applied by rampartd"))
            #expect(try ns.nftList().listsPort(4443), "applied at once")
            try daemon.rampart(["dynamic", "add", "mmpolicy", "name=m"])
            try daemon.rampart([
                "dynamic", "add", "rule", "srcaddr=198.51.100.0/24", "dstaddr=me", "mmpolicy=m", "protocol=tcp",
                "dstport=5555",
                "actioninbound=permit", "actionoutbound=permit"
            ])
            #expect(try ns.nftList().contains("comment \"D1\""))
            #expect(try daemon.rampart(["status"]).out.contains("1 dynamic rules"))
            // Dynamic rules are runtime-only: a restart forgets them, the stored policy stays.
            daemon.kill9()
            try daemon.start()
            #expect(try !ns.nftList().contains("comment \"D1\""))
            #expect(try ns.nftList().listsPort(4443))
            let json = try daemon.rampart(["show", "active", "--json"]).out
            #expect(json.contains(#""fossenRank""#))
            // In rampartd's own namespace: a one-shot apply or flush there would fight it.
            func here(_ words: [String]) throws -> (status: Int32, out: String, err: String) {
                try ns.run(
                    ["env", "RAMPART_SOCKET=\(daemon.socket)", "RAMPART_STORE=\(daemon.cli.store)", RampartCLI.binary]
                        + words, allowFailure: true)
            }
            let applyWhileRunning = try here(["apply"])
            #expect(applyWhileRunning.status != 0 && applyWhileRunning.err.contains("rampartd is running"))
            let flushWhileRunning = try here(["flush"])
            #expect(flushWhileRunning.status != 0 && flushWhileRunning.err.contains("stop it first"))
            #expect(try ns.nftList().contains("table inet rampart"))
        }
    }
}

final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var count = 0
    private(set) var errors: [String] = []
    func add(_ error: String?) {
        lock.lock()
        count += 1
        if let error { errors.append(error) }
        lock.unlock()
    }
}
