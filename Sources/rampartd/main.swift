import ArgumentParser
import FoundationEssentials
import Glibc
import Logging
import RampartControl
import RampartDaemon
import RampartNetlink
import RampartSystem
import Synchronization
import RampartConfig

/// rampartd: enforce the boot mode at once, then the stored policy; reload on SIGHUP; restore the
/// table when someone else changes it; serve the control socket. See docs/rampartd.md.
struct RampartdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rampartd",
        abstract: "The rampart host packet-filter daemon.",
        discussion: """
            Started by systemd before the network (rampartd.service), rampartd enforces the boot mode at once \
            (from the boot file beside the store; stateful if it cannot be read), then compiles the stored \
            policy and applies it in one nftables transaction, in its own table inet rampart, over netlink. \
            A corrupt store is refused and the boot ruleset stays in force. It keeps the DNS, WINS, DHCP and \
            GATEWAY address sets current from resolv.conf, the DHCP leases, smb.conf and the routing table; \
            restores its table when another process changes it; logs the drops the policy logs, per \
            ipsecloginterval; and answers rampart on its control socket.

            SIGHUP (systemctl reload rampartd, rampart reload) re-reads the configuration and the store and \
            applies them atomically; on any error the running ruleset stays. SIGTERM stops the daemon and \
            leaves the ruleset in force (rampart flush removes it), so a restart or an upgrade opens no window.

            Exit status: 0 after SIGTERM or SIGINT; 1 when it cannot start (no CAP_NET_ADMIN, an invalid \
            configuration file, the boot ruleset refused by the kernel). See rampart(8), rampartd.conf(5), \
            and /usr/share/doc/rampart (rampartd.md, logging.md, control-protocol.md).
            """,
        version: RampartVersion.current)

    @Option(help: ArgumentHelp("The daemon configuration file.", valueName: "FILE"))
    var config: String?

    @Option(
        help: ArgumentHelp(
            "The store file (default: the configuration's 'store', $RAMPART_STORE, /var/lib/rampart/store.json).",
            valueName: "FILE"))
    var store: String?

    @Option(
        help: ArgumentHelp(
            "The control socket (default: the configuration's 'socket', $RAMPART_SOCKET, /run/rampart/control.sock).",
            valueName: "PATH"))
    var socket: String?

    func run() throws {
        let started = ContinuousClock.now
        DaemonLog.bootstrap()
        let logger = Logger(label: "rampartd")
        logger.debug("Swift concurrency global executor: \(executor)")
        let environment = ProcessInfo.processInfo.environment

        // The configuration file is small: read it before the boot mode, since it names the store.
        let configPath = config ?? DaemonConfig.defaultPath
        var daemonConfig = try readConfiguration(configPath, logger: logger)
        // Before anything touches the table: a second daemon would fight the first.
        let instance: InstanceLock.Held
        do {
            instance = try InstanceLock.acquire()
        } catch {
            logger.critical("\(error)")
            throw ExitCode.failure
        }
        raiseDescriptorLimit(logger: logger)
        let overrides = PolicyEngine.Overrides(
            store: store ?? environment["RAMPART_STORE"], socket: socket ?? environment["RAMPART_SOCKET"])
        daemonConfig.store = overrides.store ?? daemonConfig.store
        daemonConfig.socket = overrides.socket ?? daemonConfig.socket

        let client: NftablesClient
        do {
            client = try NftablesClient()
        } catch {
            logger.critical("cannot open the nf_tables netlink socket: \(error) (rampartd needs CAP_NET_ADMIN)")
            throw ExitCode.failure
        }
        let engineEnvironment = EngineEnvironment(notify: Self.notifier(logger: logger))
        let engine = PolicyEngine(
            config: daemonConfig, configPath: configPath, overrides: overrides, client: client,
            environment: engineEnvironment, logger: logger, started: started)
        let lifecycle = Lifecycle(
            engine: engine, config: daemonConfig,
            services: Services.all(config: daemonConfig, environment: engineEnvironment), logger: logger)
        if case .failed(let message) = lifecycle.start() {
            logger.critical("\(message)")
            throw ExitCode.failure
        }
        // Returns once SIGTERM or SIGINT has stopped every service; the ruleset stays in force.
        withExtendedLifetime(instance) {
            lifecycle.serveSignals()
        }
    }
}

extension RampartdCommand {
    /// The configuration file, parsed; the defaults when the default file does not exist.
    func readConfiguration(_ path: String, logger: Logger) throws -> DaemonConfig {
        do {
            if let text = try DaemonConfig.readFile(path) { return try DaemonConfig.parse(text, file: path) }
        } catch {
            logger.critical("\(error)")
            throw ExitCode.failure
        }
        guard config == nil else {
            logger.critical("cannot read the configuration file \(path): it does not exist")
            throw ExitCode.failure
        }
        return DaemonConfig()
    }

    /// sd_notify that never waits; a full socket is said in the log, once and then every 1,000.
    static func notifier(logger: Logger) -> @Sendable (String) -> Void {
        let notifier = SystemdNotifier()
        let undelivered = UndeliveredNotifications()
        return { message in
            guard !notifier.notify(message) else { return }
            let n = undelivered.count()
            if n == 1 || n % 1000 == 0 {
                logger.warning(
                    "the notify socket is full: \(n) notification(s) to the service manager dropped so far (rampartd goes on)"
                )
            }
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

let executor = Lifecycle.takeOverSignalsAndExecutor()
RampartdCommand.main()

/// How many sd_notify messages found the service manager's socket full.
final class UndeliveredNotifications: Sendable {
    private let value = Atomic<Int>(0)
    func count() -> Int { value.add(1, ordering: .relaxed).newValue }
}
