import ArgumentParser
import Dispatch
import Foundation
import Logging
import RampartControl
import RampartDaemon
import RampartNetlink

/// rampartd: enforce the boot mode at once, then the stored policy; reload on SIGHUP; restore the
/// table when someone else changes it; serve the control socket. See docs/rampartd.md.
struct RampartdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rampartd", abstract: "The rampart host packet-filter daemon.")

    @Option(help: ArgumentHelp("The daemon configuration file.", valueName: "FILE"))
    var config: String?

    @Option(help: ArgumentHelp("The store file (default: the configuration's 'store', $RAMPART_STORE, /var/lib/rampart/store.json).", valueName: "FILE"))
    var store: String?

    @Option(help: ArgumentHelp("The control socket (default: the configuration's 'socket', $RAMPART_SOCKET, /run/rampart/control.sock).", valueName: "PATH"))
    var socket: String?

    func run() throws {
        let started = ContinuousClock.now
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        let logger = Logger(label: "rampartd")
        if !executorOnNIO { logger.debug("Swift concurrency stays on libdispatch") }
        let environment = ProcessInfo.processInfo.environment

        // The configuration file is small: read it before the boot mode, since it names the store.
        let configPath = config ?? DaemonConfig.defaultPath
        var daemonConfig = DaemonConfig()
        if let text = try? String(contentsOfFile: configPath, encoding: .utf8) {
            do {
                daemonConfig = try DaemonConfig.parse(text, file: configPath)
            } catch {
                logger.critical("\(error)")
                throw ExitCode.failure
            }
        } else if config != nil {
            logger.critical("cannot read the configuration file \(configPath)")
            throw ExitCode.failure
        }
        // Before anything touches the table: a second daemon would fight the first.
        let instance: InstanceLock.Held
        do {
            instance = try InstanceLock.acquire()
        } catch {
            logger.critical("\(error)")
            throw ExitCode.failure
        }
        raiseDescriptorLimit(logger: logger)
        let overrides = Daemon.Overrides(store: store ?? environment["RAMPART_STORE"], socket: socket ?? environment["RAMPART_SOCKET"])
        daemonConfig.store = overrides.store ?? daemonConfig.store
        daemonConfig.socket = overrides.socket ?? daemonConfig.socket

        let daemon: Daemon
        do {
            daemon = try Daemon(config: daemonConfig, configPath: configPath, overrides: overrides, logger: logger, started: started)
        } catch {
            logger.critical("cannot open the nf_tables netlink socket: \(error) (rampartd needs CAP_NET_ADMIN)")
            throw ExitCode.failure
        }
        let finalConfig = daemonConfig
        let semaphore = DispatchSemaphore(value: 0)
        let outcome = StartOutcome()
        Task {
            do {
                try await daemon.enforceBootMode()
            } catch {
                logger.critical("cannot enforce the boot mode: \(error)")
                outcome.failed = true
                semaphore.signal()
                return
            }
            await daemon.loadPolicy()
            semaphore.signal()
        }
        semaphore.wait()
        if outcome.failed { throw ExitCode.failure }

        // Serve before announcing readiness, so a client started after us finds the socket.
        Services.startMonitor(daemon: daemon, logger: logger)
        Services.startAddressWatchers(daemon: daemon, config: finalConfig, logger: logger)
        // Bound here, on the main thread: binding waits on an event loop, which a task may be running on.
        let server = Result { try ControlServer.start(config: finalConfig, daemon: daemon, logger: logger) }
        let listening = DispatchSemaphore(value: 0)
        Task {
            switch server {
            case .success(let s): await daemon.controlSocketListening(path: finalConfig.socket, inode: s.inode, warning: s.warning)
            case .failure(let error): await daemon.controlSocketFailed("\(error)")
            }
            listening.signal()
        }
        listening.wait()
        let ready = DispatchSemaphore(value: 0)
        Task {
            await daemon.announceReady()
            ready.signal()
        }
        ready.wait()
        Services.startWatchdog(daemon: daemon)
        withExtendedLifetime(instance) {
            Services.serveSignals(daemon: daemon, logger: logger)
        }
    }
}

/// systemd's default soft limit is 1024; the hard limit is much higher. The daemon's own work
/// (netlink, inotify, lease files) must never starve behind client connections.
func raiseDescriptorLimit(logger: Logger) {
    var limit = rlimit()
    guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    if setrlimit(RLIMIT_NOFILE_VALUE, &limit) != 0 {
        logger.warning("cannot raise the descriptor limit to \(limit.rlim_max): \(String(cString: strerror(errno)))")
    }
}

#if canImport(Glibc)
let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
#endif

final class StartOutcome: @unchecked Sendable {
    var failed = false
}

let executorOnNIO = Services.takeOverSignalsAndExecutor()
RampartdCommand.main()
