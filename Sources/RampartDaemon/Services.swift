import Dispatch
import Foundation
import Logging
import RampartNetlink

/// The daemon's long-running parts besides the control socket: signals, the nftables monitor and
/// the systemd watchdog. All are event-driven; an idle daemon makes no periodic wakeups unless
/// systemd asked for a watchdog.
public enum Services {
    /// SIGHUP reloads (a burst of signals coalesces into one more reload); SIGTERM and SIGINT stop,
    /// leaving the ruleset in force.
    public static func handleSignals(daemon: Daemon, logger: Logger) {
        let gate = ReloadGate()
        for sig in [SIGHUP, SIGTERM, SIGINT] { signal(sig, SIG_IGN) }
        let queue = DispatchQueue(label: "rampartd.signals")
        let hup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: queue)
        hup.setEventHandler {
            guard gate.request() else { return }
            Task {
                repeat { await daemon.reload() } while gate.finish()
            }
        }
        hup.resume()
        for (sig, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler {
                Task {
                    await daemon.shutdown(signal: name)
                    exit(0)
                }
            }
            source.resume()
            Retained.sources.append(source)
        }
        Retained.sources.append(hup)
    }

    /// Call first thing: a parent may have left HUP/TERM/INT blocked, and the mask is inherited
    /// by every thread created afterwards.
    public static func unblockSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        for sig in [SIGHUP, SIGTERM, SIGINT] { sigaddset(&set, sig) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
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

enum Retained {
    nonisolated(unsafe) static var sources: [any DispatchSourceSignal] = []
}
