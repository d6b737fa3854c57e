import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import RampartNetlink

/// The daemon's long-running parts besides the control socket: signals, the nftables monitor and
/// the systemd watchdog. All are event-driven; an idle daemon makes no periodic wakeups unless
/// systemd asked for a watchdog.
public enum Services {
    /// Runs on the calling thread for good: SIGHUP reloads (a burst coalesces into one more
    /// reload); SIGTERM and SIGINT stop, leaving the ruleset in force. The signals are blocked in
    /// every thread (`takeOverSignals`) and taken here with sigwait: no handler, no dispatch source,
    /// no timer.
    public static func serveSignals(daemon: Daemon, logger: Logger) -> Never {
        let gate = ReloadGate()
        var set = signalSet()
        while true {
            var sig: Int32 = 0
            guard sigwait(&set, &sig) == 0 else { continue }
            switch sig {
            case SIGHUP:
                guard gate.request() else { continue }
                Task {
                    repeat { await daemon.reload() } while gate.finish()
                }
            default:
                let name = sig == SIGTERM ? "SIGTERM" : "SIGINT"
                let done = DispatchSemaphore(value: 0)
                Task {
                    await daemon.shutdown(signal: name)
                    done.signal()
                }
                done.wait()
                exit(0)
            }
        }
    }

    static func signalSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for sig in [SIGHUP, SIGTERM, SIGINT] { sigaddset(&set, sig) }
        return set
    }

    /// Call first thing, before any thread exists: HUP, TERM and INT are blocked here and so in
    /// every thread created later, to be taken by `serveSignals` with sigwait (whatever mask the
    /// parent left). Swift concurrency then runs on NIO's event loops instead of libdispatch's
    /// worker pool, whose monitor timer would wake the process every second.
    @discardableResult
    public static func takeOverSignalsAndExecutor() -> Bool {
        var set = signalSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
        return NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }

    /// Watches nftables notifications on its own thread; a foreign change to our table is undone.
    public static func startMonitor(daemon: Daemon, logger: Logger) {
        let monitor: NftablesMonitor
        do {
            monitor = try NftablesMonitor(table: "rampart")
        } catch {
            logger.error("cannot watch nftables notifications (\(error)); foreign changes to the table will not be undone")
            return
        }
        let own = daemon.portID
        let thread = Thread {
            monitor.run(ownPortIDs: { [own] }, changed: { change in
                Task { await daemon.tableChanged(change) }
            })
        }
        thread.name = "rampartd.monitor"
        thread.start()
    }

    public static func startWatchdog(daemon: Daemon) {
        guard let interval = SystemdNotifier.watchdogInterval() else { return }
        Task {
            while true {
                try? await Task.sleep(for: interval / 2)
                await daemon.watchdog()
            }
        }
    }
}

/// Coalesces reload requests: at most one running and one more queued.
final class ReloadGate: @unchecked Sendable {
    private let lock = NSLock()
    private var running = false
    private var again = false

    /// True when the caller should start a reload loop.
    func request() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if running {
            again = true
            return false
        }
        running = true
        return true
    }

    /// True when another reload was requested meanwhile.
    func finish() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if again {
            again = false
            return true
        }
        running = false
        return false
    }
}

