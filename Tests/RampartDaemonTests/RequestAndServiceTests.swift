import CRampartSystem
import Foundation
import Glibc
import RampartControl
@testable import RampartDaemon
import RampartReport
import RampartSystem
import Synchronization
import Testing

/// Requests through the router (parse, authorize once from the parse, run), and services that
/// fail: no root, no namespace.
@Suite struct RequestRoutingTests {
    /// Every operation × root / group member / anyone else, through the engine: the reply's code
    /// says whether it was refused, and refused requests change nothing.
    @Test(arguments: ControlOperation.allCases)
    func authorizationTable(_ operation: ControlOperation) async throws {
        let f = try EngineFixture()
        try await f.start()
        func request(change: Bool) -> ControlRequest {
            switch operation {
            case .netsh:
                return ControlRequest(
                    op: .netsh, args: change ? ["static", "add", "policy", "name=X"] : ["static", "show", "all"])
            case .exec:
                return ControlRequest(
                    op: .exec, name: "s",
                    script: change ? "ipsec static add policy name=X\n" : "ipsec static show all\n")
            case .import:
                return ControlRequest(
                    op: .import, name: "b.cmd",
                    script: change ? "netsh ipsec static add policy name=X\r\n" : "netsh ipsec static show all\r\n")
            default: return ControlRequest(op: operation)
            }
        }
        let changes: Set<ControlOperation> = [.reload, .confirm]
        let scripted: Set<ControlOperation> = [.netsh, .exec, .import]
        for peer in [EngineFixture.root, EngineFixture.member, EngineFixture.other] {
            for change in scripted.contains(operation) ? [false, true] : [changes.contains(operation)] {
                let before = f.transport.transactions.count
                let storeBefore = try f.storeFile.load()
                let reply = await f.request(request(change: change), from: peer)
                let allowed = peer.role == .admin || (peer.role == .member && !change)
                if allowed {
                    #expect(
                        reply.code != .denied, "\(operation) by \(peer.role) (change: \(change)): \(reply.error ?? "")")
                } else {
                    #expect(reply.code == .denied, "\(operation) by \(peer.role) (change: \(change)) must be refused")
                    #expect(f.transport.transactions.count == before)
                    #expect(try f.storeFile.load() == storeBefore)
                }
            }
        }
    }

    @Test func errorCodesNameTheKindOfFailure() async throws {
        let f = try EngineFixture()
        try await f.start()
        let script = await f.exec("ipsec static add policy name=Y\nipsec static frobnicate\n")
        #expect(script.code == .script)
        #expect(script.error?.hasPrefix("t.netsh:2:") == true, "\(script.error ?? "")")
        let location = await f.request(ControlRequest(op: .status, location: "elsewhere"))
        #expect(location.code == .badRequest)
        let window = await f.exec("ipsec static add policy name=Y\n", confirm: 100_000)
        #expect(window.code == .badRequest)
        f.transport.rejectNextTransaction(errno: EINVAL)
        let kernel = await f.exec("ipsec static add policy name=Y\nipsec dynamic set config ipsecdiagnostics 7\n")
        #expect(kernel.code == .kernel)
        #expect(
            try f.storeFile.load().local.policies.contains { $0.name == "Y" } == false,
            "a refused transaction writes nothing")
    }

    /// `explain` through the daemon: on the policy it enforces and the addresses it follows.
    @Test func explainAnswersOnWhatIsEnforced() async throws {
        let f = try EngineFixture()
        try await f.start()
        // The DNS filter permits `me -> DNS udp 53` (the fixture's resolv.conf names 192.0.2.53);
        // the block-all's mirror half drops anything else from `me`.
        let dns = await f.request(
            ControlRequest(op: .explain, args: ["out", "udp", "me:40000", "to", "192.0.2.53:53"]),
            from: EngineFixture.member)
        #expect(dns.ok, "\(dns.error ?? "")")
        #expect(dns.json?.contains(#""verdict": "accept""#) == true, "\(dns.text)")
        #expect(dns.text.contains("decided by: F") && dns.text.contains("me -> DNS UDP"), "\(dns.text)")
        let other = await f.request(
            ControlRequest(op: .explain, args: ["out", "udp", "me:40000", "to", "192.0.2.54:53"]))
        #expect(other.text.contains("verdict: block") && other.text.contains("Rest"), "\(other.text)")
        let bad = await f.request(ControlRequest(op: .explain, args: ["sideways"]))
        #expect(bad.code == .badRequest)
    }

    @Test func statusShowsServicesAndProblems() async throws {
        let f = try EngineFixture()
        try await f.start()
        await f.engine.expect(services: ["files", "routes"])
        await f.engine.serviceRunning("files")
        await f.engine.serviceFailed(
            "routes", reason: "receiving route notifications: No buffer space available (errno 105)",
            retryIn: .seconds(1))
        let status = await f.engine.status()
        #expect(status.state == "degraded")
        let text = StatusReport.text(status)
        #expect(text.contains("services:    files   running"), "\(text)")
        #expect(text.contains("routes  FAILED: receiving route notifications"), "\(text)")
        #expect(
            StatusReport.json(status).rendered(pretty: false).contains(
                #""routes":{"state":"FAILED: receiving route notifications"#))
        await f.engine.serviceRunning("routes")
        #expect(await f.engine.status().state == "running")
    }
}

/// A no-op handler: a signal sent to one thread only interrupts its poll (EINTR).
private let installInterruptHandler: Void = {
    signal(SIGUSR2) { _ in }
}()

@Suite(.serialized) struct ServiceFailureTests {
    /// The threads of running services, by the name they gave themselves.
    static func threads(named name: String) -> [pid_t] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap { tid in
            guard let comm = try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8),
                comm.trimmingCharacters(in: .whitespacesAndNewlines) == String(name.prefix(15))
            else { return nil }
            return pid_t(tid)
        }
    }

    /// The first status that shows `service` failed (taken in one step on the engine, so a quick
    /// restart cannot make it half old, half new).
    static func failedStatus(_ f: EngineFixture, _ service: String) async -> DaemonStatus? {
        var seen: DaemonStatus?
        _ = await eventually {
            let s = await f.engine.status()
            if s.services.contains(where: { $0.name == service && $0.failed }) { seen = s }
            return seen != nil
        }
        return seen
    }

    /// Replaces descriptor `fd` with a write-only /dev/null, atomically: its owner's next read
    /// fails (EBADF, or ENOTSOCK for a socket), and no other thread can be handed the number.
    static func kill(_ fd: Int32) {
        let null = open("/dev/null", O_WRONLY | O_CLOEXEC)
        _ = dup2(null, fd)
        close(null)
    }

    /// The link of each open descriptor of this process (`socket:[123]`, `anon_inode:inotify`).
    static func descriptorLinks() -> [Int32: String] {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        var out: [Int32: String] = [:]
        for fd in fds {
            if let n = Int32(fd),
                let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")
            {
                out[n] = target
            }
        }
        return out
    }

    /// The inotify descriptors watching the inode of `path` (from /proc/self/fdinfo): exactly the
    /// file watcher's, even with other tests running in this process.
    static func inotifyDescriptors(watching path: String) -> [Int32] {
        var info = stat()
        guard stat(path, &info) == 0 else { return [] }
        let inode = String(UInt64(info.st_ino), radix: 16)
        return descriptorLinks().filter { $0.value == "anon_inode:inotify" }.keys.filter { fd in
            let fdinfo = (try? String(contentsOfFile: "/proc/self/fdinfo/\(fd)", encoding: .utf8)) ?? ""
            return fdinfo.split(separator: "\n").contains { $0.hasPrefix("inotify ") && $0.contains(" ino:\(inode) ") }
        }
    }

    /// The NETLINK_ROUTE sockets subscribed to the IPv4 and IPv6 route groups (/proc/self/net/netlink).
    static func routeSubscriptions() -> [Int32] {
        let table = (try? String(contentsOfFile: "/proc/self/net/netlink", encoding: .utf8)) ?? ""
        var inodes = Set<String>()
        for line in table.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            // sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
            guard f.count >= 10, f[1] == "0", let groups = UInt32(f[3], radix: 16), groups & 0x440 == 0x440 else {
                continue
            }
            inodes.insert(String(f[9]))
        }
        return descriptorLinks().filter { link in inodes.contains { link.value == "socket:[\($0)]" } }.map(\.key)
    }

    /// Runs the real file watcher service and kills its inotify descriptor under it.
    static func runAndKillTheFileWatcher(_ f: EngineFixture, firstBackoff: Duration) async throws -> Task<Void, Never> {
        _ = installInterruptHandler
        let supervisor = Task {
            await Supervisor.run(
                [Services.files(config: f.config)], engine: f.engine, logger: .init(label: "t"),
                firstBackoff: firstBackoff)
        }
        let running = await eventually {
            await f.engine.serviceStates()["files"].map { if case .running = $0 { true } else { false } } ?? false
        }
        let states = await f.engine.serviceStates()
        let problems = await f.engine.status().problems
        #expect(running, "files: \(String(describing: states["files"])); problems: \(problems)")
        // The watches are installed once the loop runs.
        #expect(await eventually { Self.inotifyDescriptors(watching: f.config.resolvConf).count == 1 })
        let fd = try #require(
            Self.inotifyDescriptors(watching: f.config.resolvConf).first, "the watcher's inotify descriptor")
        #expect(await eventually { !Self.threads(named: "rampartd.files").isEmpty })
        Self.kill(fd)
        // Wake its poll so it looks again (nothing else would: it waits for events).
        for tid in Self.threads(named: "rampartd.files") { _ = pthreadKill(tid) }
        return supervisor
    }

    /// The real file watcher service: its inotify descriptor is killed under it. The service fails
    /// with the errno and the daemon is degraded with the reason (the restart is a minute away here).
    @Test func killedWatcherDescriptorShowsAsDegraded() async throws {
        let f = try EngineFixture()
        try await f.start()
        let supervisor = try await Self.runAndKillTheFileWatcher(f, firstBackoff: .seconds(60))
        defer { supervisor.cancel() }
        let status = try #require(await Self.failedStatus(f, "files"))
        #expect(status.state == "degraded")
        let text = StatusReport.text(status)
        #expect(
            text.contains("PROBLEM:     service files stopped: reading inotify events: Bad file descriptor (errno 9)"),
            "\(text)")
        #expect(text.contains("files  FAILED:"), "\(text)")
        supervisor.cancel()
        await supervisor.value
        #expect(await f.engine.serviceStates()["files"] == .stopped)
    }

    /// The same, with the usual backoff: the restart (a new descriptor) makes it healthy again, and
    /// the failure stays on record in the status.
    @Test func aKilledWatcherRecoversWithItsFailureOnRecord() async throws {
        let f = try EngineFixture()
        try await f.start()
        let supervisor = try await Self.runAndKillTheFileWatcher(f, firstBackoff: Supervisor.firstBackoff)
        defer { supervisor.cancel() }
        #expect(
            await eventually {
                let s = await f.engine.status()
                return s.state == "running"
                    && s.services.contains { $0.name == "files" && $0.state == "running" && $0.failures == 1 }
            })
        let text = StatusReport.text(await f.engine.status())
        #expect(
            text.contains(
                "files  running (failed 1 time, last: reading inotify events: Bad file descriptor (errno 9))"),
            "\(text)")
        supervisor.cancel()
        await supervisor.value
    }

    /// The routes watcher's netlink socket is killed under it: the same path, for a socket.
    @Test func killedRouteSocketShowsAsDegraded() async throws {
        _ = installInterruptHandler
        let f = try EngineFixture()
        try await f.start()
        let before = Set(Self.routeSubscriptions())
        let supervisor = Task {
            await Supervisor.run(
                [Services.routes()], engine: f.engine, logger: .init(label: "t"), firstBackoff: .seconds(60))
        }
        defer { supervisor.cancel() }
        #expect(
            await eventually {
                await f.engine.serviceStates()["routes"].map { if case .running = $0 { true } else { false } } ?? false
            })
        let ours = Set(Self.routeSubscriptions()).subtracting(before)
        #expect(ours.count == 1, "the routes service's subscription")
        #expect(await eventually { !Self.threads(named: "rampartd.routes").isEmpty })
        for fd in ours { Self.kill(fd) }
        for tid in Self.threads(named: "rampartd.routes") { _ = pthreadKill(tid) }
        let problems = try #require(await Self.failedStatus(f, "routes")).problems
        #expect(
            problems.contains {
                $0.contains(
                    "service routes stopped: receiving route notifications: Socket operation on non-socket (errno 88)")
            }, "\(problems)")
        supervisor.cancel()
        await supervisor.value
    }

    /// Cancellation is the stop path: every service ends, none counts as failed.
    @Test func cancellationStopsEveryServiceCleanly() async throws {
        let f = try EngineFixture()
        try await f.start()
        let services = [
            Services.files(config: f.config), Services.routes(), Services.timers(),
            Services.lookups(resolve: { _ in .success([]) })
        ]
        let supervisor = Task { await Supervisor.run(services, engine: f.engine, logger: .init(label: "t")) }
        #expect(await eventually { await f.engine.servicesSettled() })
        supervisor.cancel()
        await supervisor.value
        let states = await f.engine.serviceStates()
        #expect(states.count == 4)
        #expect(states.values.allSatisfy { $0 == .stopped }, "\(states)")
        #expect(await f.engine.status().state == "running")
    }

    /// A service that returns on its own is a failure, restarted with backoff.
    @Test func aServiceThatEndsIsRestarted() async throws {
        let f = try EngineFixture()
        try await f.start()
        let runs = Counter()
        // Ends at once every time, before it ever counts as running.
        let flaky = DaemonService(name: "flaky") { _ in runs.increment() }
        let supervisor = Task { await Supervisor.run([flaky], engine: f.engine, logger: .init(label: "t")) }
        #expect(await eventually { runs.value >= 3 })
        supervisor.cancel()
        await supervisor.value
        #expect(await f.engine.status().problems.contains { $0.contains("service flaky stopped: it ended on its own") })
    }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

/// A signal to one thread of this process.
func pthreadKill(_ tid: pid_t) -> Int32 { rampart_tgkill(getpid(), tid, SIGUSR2) }
