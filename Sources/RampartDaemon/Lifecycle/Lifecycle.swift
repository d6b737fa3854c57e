import Glibc
import Logging
import NIOCore
import NIOPosix
import RampartSystem
import Synchronization
import RampartConfig

/// rampartd from start to stop, as one task: enforce the boot mode, load the policy, start the
/// services and the control socket, announce READY; then serve until cancelled, close the
/// socket, stop every service, and say STOPPING. The main thread only takes signals.
public final class Lifecycle: Sendable {
    public enum Started: Sendable {
        case ready
        case failed(String)
    }

    let engine: PolicyEngine
    let config: DaemonConfig
    let services: [DaemonService]
    let logger: Logger
    let started = Latch<Started>()
    let finished = Latch<Bool>()
    let stopSignal = Mutex<String>("stop")
    let task = Mutex<Task<Void, Never>?>(nil)

    public init(engine: PolicyEngine, config: DaemonConfig, services: [DaemonService], logger: Logger) {
        self.engine = engine
        self.config = config
        self.services = services
        self.logger = logger
    }

    /// Starts the daemon's task and waits (on the calling thread) until it is ready or failed.
    public func start() -> Started {
        let t = Task { await self.main() }
        task.withLock { $0 = t }
        return started.wait()
    }

    func main() async {
        defer { finished.open(true) }
        do {
            try await engine.enforceBootMode()
        } catch {
            started.open(.failed("cannot enforce the boot mode: \(error)"))
            return
        }
        await engine.loadPolicy()
        var listening: ControlServer.Listening?
        // Before the supervisor runs, so that the wait below cannot pass before any service exists.
        await engine.expect(services: services.map(\.name))
        await withDiscardingTaskGroup { group in
            group.addTask { await Supervisor.run(self.services, engine: self.engine, logger: self.logger) }
            // READY waits for the watchers: a change made right after READY is seen.
            while await !engine.servicesSettled(), !Task.isCancelled { await engine.serviceBell.wait() }
            do {
                let server = try await ControlServer.start(config: config, engine: engine, logger: logger)
                listening = server
                await engine.controlSocketListening(warning: server.warning)
            } catch {
                await engine.controlSocketFailed("\(error)")
            }
            await engine.announceReady()
            started.open(.ready)
            // Serve until stopped: the task group ends when the supervisor, cancelled, has stopped every service.
            await Self.untilCancelled()
            group.cancelAll()
        }
        if let listening {
            try? await listening.channel.close()
            listening.removeSocket(config.socket)
        }
        await engine.shutdown(signal: stopSignal.withLock { $0 })
    }

    static func untilCancelled() async {
        let bell = Doorbell()
        while !Task.isCancelled { await bell.wait() }
    }

    /// Stops the daemon (from the signal thread) and waits until every service has stopped.
    public func stop(signal: String) {
        stopSignal.withLock { $0 = signal }
        task.withLock { $0 }?.cancel()
        _ = finished.wait()
    }

    /// SIGHUP reloads (a burst coalesces into one more reload); SIGTERM and SIGINT stop,
    /// leaving the ruleset in force, and return. The signals are blocked in every thread
    /// (`takeOverSignalsAndExecutor`) and taken here with sigwait: no handler, no dispatch source.
    public func serveSignals() {
        let gate = engine.reloadGate
        var set = daemonSignalSet()
        while true {
            var sig: Int32 = 0
            guard sigwait(&set, &sig) == 0 else { continue }
            switch sig {
            case SIGHUP:
                guard gate.request() else { continue }
                let engine = self.engine
                Task {
                    repeat { await engine.reload() } while gate.finish()
                }
            default:
                stop(signal: sig == SIGTERM ? "SIGTERM" : "SIGINT")
                return
            }
        }
    }

    /// Call first thing, before any thread exists: HUP, TERM and INT are blocked here and so in
    /// every thread created later, to be taken by `serveSignals` with sigwait (whatever mask the
    /// parent left). Swift concurrency then runs on NIO's event loops instead of libdispatch's
    /// worker pool, whose monitor timer would wake the process every second (`ExecutorTakeOver`).
    /// Returns how the executor was moved, for the log.
    @discardableResult
    public static func takeOverSignalsAndExecutor() -> String {
        var set = daemonSignalSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
        return ExecutorTakeOver.install().rawValue
    }
}
