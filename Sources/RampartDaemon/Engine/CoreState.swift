import FoundationEssentials
import Logging
import RampartCompiler
import RampartPolicy
import RampartReport
import RampartSystem

/// What is fixed when rampartd starts: read from any thread.
struct Launch: Sendable {
    /// The control group's name, for messages (fixed at start, as the socket is).
    var controlGroup: String
    /// The port id of our netlink socket: notifications carrying it are our own changes.
    var portID: UInt32
    var started: ContinuousClock.Instant
    var startedAt: Date
    /// The configuration file read again on reload, and the command line's overrides of it.
    var configPath: String?
    var overrides: PolicyEngine.Overrides
}

/// The engine's hand-offs to the services and threads off it: the doorbells that wake the timer
/// service (the earliest deadline may have moved), the lookup service (names to resolve), the
/// IPsec event service (charon holds our connections) and whoever waits for services to settle,
/// and the writer of the drop log and the metrics textfile (bounded: 8 MiB waiting).
struct Channels: Sendable {
    let timerBell = Doorbell()
    let lookupBell = Doorbell()
    let ipsecBell = Doorbell()
    let serviceBell = Doorbell()
    let fileWriter = BackgroundWriter(name: "rampartd.files", limit: 8 << 20)
    /// SIGHUPs coalesce here: one reload runs, one more may wait (`Lifecycle.serveSignals`).
    let reloadGate = ReloadGate()
}

/// Where startup is, and when its steps were done.
struct Timeline: Sendable {
    private(set) var phase = Phase.starting
    private(set) var bootMilliseconds: Double?
    private(set) var readyMilliseconds: Double?
    /// A reload asked for before READY runs once ready.
    private(set) var reloadAfterStartup = false
    /// Reloads begun since the start (SIGHUP or `rampart reload`).
    private(set) var reloads = 0

    mutating func enter(_ next: Phase) { phase = next }

    mutating func booted(after milliseconds: Double) {
        phase = .boot
        bootMilliseconds = milliseconds
    }

    mutating func ready(after milliseconds: Double) { readyMilliseconds = milliseconds }

    /// Whether a reload can run now; if not, it is remembered for READY.
    mutating func mayReload() -> Bool {
        guard phase == .running || phase == .boot, readyMilliseconds != nil else {
            reloadAfterStartup = true
            return false
        }
        reloads += 1
        return true
    }

    /// The reload remembered during startup, once (READY).
    mutating func takeDeferredReload() -> Bool {
        defer { reloadAfterStartup = false }
        return reloadAfterStartup
    }
}

/// The policy the engine holds: the store's objects as on disk (the domain policy is beside
/// them, in `FleetState`), what the store is relative to the file, and the runtime-only rules and
/// main/quick mode policies.
struct PolicyState: Sendable {
    private(set) var local = Store()
    private(set) var state = StoreState.notLoaded
    private(set) var dynamic = DynamicState()
    /// The store file as rampartd last read or wrote it: a request reads it again only when its
    /// stamp changed (another writer), not 100,000 filters' decoding for every edit.
    private var onDisk: (stamp: StoreFile.Stamp, store: Store)?

    /// The store on disk, decoded only when it is not the version last read or written.
    mutating func read(_ file: StoreFile) throws(StoreError) -> Store {
        // The stamp before the read: a writer in between makes the next stamp differ, never the
        // cached copy older than its stamp.
        let stamp = file.stamp()
        if let stamp, let cached = onDisk, cached.stamp == stamp { return cached.store }
        let store = try file.load()
        onDisk = stamp.map { ($0, store) }
        return store
    }

    /// `store` was just written to `file`.
    mutating func wrote(_ store: Store, to file: StoreFile) { onDisk = file.stamp().map { ($0, store) } }

    mutating func replace(_ store: Store, _ state: StoreState) {
        local = store
        self.state = state
    }

    mutating func replace(_ store: Store, dynamic: DynamicState, _ state: StoreState) {
        replace(store, state)
        self.dynamic = dynamic
    }

    mutating func mark(_ state: StoreState) { self.state = state }
}
