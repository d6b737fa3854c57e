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
            case .netsh: return ControlRequest(op: .netsh, args: change ? ["static", "add", "policy", "name=X"] : ["static", "show", "all"])
            case .exec: return ControlRequest(op: .exec, name: "s", script: change ? "ipsec static add policy name=X\n" : "ipsec static show all\n")
            case .import: return ControlRequest(op: .import, name: "b.cmd", script: change ? "netsh ipsec static add policy name=X\r\n" : "netsh ipsec static show all\r\n")
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
                    #expect(reply.code != .denied, "\(operation) by \(peer.role) (change: \(change)): \(reply.error ?? "")")
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
        let kernel = await f.exec("ipsec static add policy name=Y\n")
        #expect(kernel.code == .kernel)
        #expect(try f.storeFile.load().local.policies.contains { $0.name == "Y" } == false, "a refused transaction writes nothing")
    }

    @Test func statusShowsServicesAndProblems() async throws {
        let f = try EngineFixture()
        try await f.start()
        await f.engine.expect(services: ["files", "routes"])
        await f.engine.serviceRunning("files")
        await f.engine.serviceFailed("routes", reason: "receiving route notifications: No buffer space available (errno 105)", retryIn: .seconds(1))
        let status = await f.engine.status()
        #expect(status.state == "degraded")
        let text = StatusReport.text(status)
        #expect(text.contains("services:    files   running"), "\(text)")
        #expect(text.contains("routes  FAILED: receiving route notifications"), "\(text)")
        #expect(StatusReport.json(status).rendered(pretty: false).contains(#""routes":{"state":"FAILED: receiving route notifications"#))
        await f.engine.serviceRunning("routes")
        #expect(await f.engine.status().state == "running")
    }
}

/// A no-op handler: a signal sent to one thread only interrupts its poll (EINTR).
private let installInterruptHandler: Void = {
    signal(SIGUSR2) { _ in }
}()

@Suite(.serialized) struct ServiceFailureTests {
    /// The thread of a running service, by the name it gave itself.
    static func thread(named name: String) -> pid_t? {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        for tid in tasks {
            if let comm = try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8),
               comm.trimmingCharacters(in: .whitespacesAndNewlines) == String(name.prefix(15)) {
                return pid_t(tid)
            }
        }
        return nil
    }

    /// The descriptors of this process whose link names `kind` (anon_inode:inotify, socket:…).
    static func descriptors(_ kind: String) -> [Int32] {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.compactMap { fd in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)") else { return nil }
            return target.contains(kind) ? Int32(fd) : nil
        }
    }

    /// The real file watcher service: its inotify descriptor is closed under it. The service
    /// fails with the errno, the daemon is degraded with the reason, and the restart (a new
    /// descriptor) makes it healthy again.
    @Test func killedWatcherDescriptorShowsAsDegradedThenRecovers() async throws {
        _ = installInterruptHandler
        let f = try EngineFixture()
        try await f.start()
        let before = Set(Self.descriptors("anon_inode:inotify"))
        let supervisor = Task { await Supervisor.run([Services.files(config: f.config)], engine: f.engine, logger: .init(label: "t")) }
        defer { supervisor.cancel() }
        #expect(await eventually { await f.engine.serviceStates()["files"].map { if case .running = $0 { true } else { false } } ?? false })
        let ours = Set(Self.descriptors("anon_inode:inotify")).subtracting(before)
        let fd = try #require(ours.first, "the watcher's inotify descriptor")
        #expect(await eventually { Self.thread(named: "rampartd.files") != nil })
        let tid = try #require(Self.thread(named: "rampartd.files"))
        close(fd)
        // Wake its poll so it sees the closed descriptor (nothing else would: it waits for events).
        _ = pthreadKill(tid)
        #expect(await eventually { await f.engine.serviceStates()["files"]?.isFailed == true })
        let status = await f.engine.status()
        #expect(status.state == "degraded")
        let text = StatusReport.text(status)
        // Usually "descriptor N: Bad file descriptor (errno 9)"; under load another thread may
        // reuse the number first, and the read fails otherwise: either way with its errno.
        #expect(text.contains("PROBLEM:     service files stopped: ") && text.contains("(errno "), "\(text)")
        #expect(text.contains("files  FAILED:"), "\(text)")
        // Restarted after the backoff with a fresh descriptor.
        #expect(await eventually { await f.engine.status().state == "running" })
        supervisor.cancel()
        await supervisor.value
        #expect(await f.engine.serviceStates()["files"] == .stopped)
    }

    /// The routes watcher's netlink socket is closed under it: the same path, for a socket.
    @Test func killedRouteSocketShowsAsDegraded() async throws {
        _ = installInterruptHandler
        let f = try EngineFixture()
        try await f.start()
        let before = Set(Self.descriptors("socket:"))
        let supervisor = Task { await Supervisor.run([Services.routes()], engine: f.engine, logger: .init(label: "t")) }
        defer { supervisor.cancel() }
        #expect(await eventually { await f.engine.serviceStates()["routes"].map { if case .running = $0 { true } else { false } } ?? false })
        let ours = Set(Self.descriptors("socket:")).subtracting(before)
        #expect(await eventually { Self.thread(named: "rampartd.routes") != nil })
        let tid = try #require(Self.thread(named: "rampartd.routes"))
        for fd in ours { close(fd) }
        _ = pthreadKill(tid)
        #expect(await eventually { await f.engine.serviceStates()["routes"]?.isFailed == true })
        #expect(await f.engine.status().problems.contains { $0.contains("service routes stopped") && $0.contains("(errno ") })
        supervisor.cancel()
        await supervisor.value
    }

    /// Cancellation is the stop path: every service ends, none counts as failed.
    @Test func cancellationStopsEveryServiceCleanly() async throws {
        let f = try EngineFixture()
        try await f.start()
        let services = [Services.files(config: f.config), Services.routes(), Services.timers(), Services.lookups(resolve: { _ in .success([]) })]
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
        let flaky = DaemonService(name: "flaky") { context in
            runs.increment()
            await context.ready()
        }
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
