import FoundationEssentials
import RampartCompiler
import RampartPolicy
import RampartReport

/// Which ruleset is in the kernel, with the ruleset itself: "policy enforced" without a ruleset
/// (or a ruleset with nothing said about it) cannot be written down.
public enum Enforcement: Sendable, Equatable, CustomStringConvertible {
    case nothing
    case boot(DynamicConfig.BootMode, Ruleset)
    case policy(Ruleset)

    public var ruleset: Ruleset? {
        switch self {
        case .nothing: return nil
        case .boot(_, let r), .policy(let r): return r
        }
    }

    public var description: String {
        switch self {
        case .nothing: return "nothing"
        case .boot(let mode, _): return "boot mode \(mode.rawValue)"
        case .policy: return "policy"
        }
    }
}

/// Where startup is.
public enum Phase: String, Sendable {
    case starting, boot, running, stopping
}

/// What the in-memory store is, relative to the file.
public enum StoreState: Sendable, Equatable, CustomStringConvertible {
    case notLoaded
    /// No store file, and none was ever read: no policy is assigned (Windows semantics).
    case absent
    case loaded(assigned: [String])
    case changed(by: String)
    case rolledBack
    /// Unreadable at startup: the boot ruleset stays.
    case corrupt(String)
    /// Unreadable or gone on reload: the previous policy keeps running.
    case previousKept(vanished: Bool, reason: String)

    /// A store file was read (so one that vanishes later is a fault, not "no policy").
    var wasRead: Bool {
        switch self {
        case .loaded, .changed, .rolledBack, .previousKept: return true
        case .notLoaded, .absent, .corrupt: return false
        }
    }

    public var description: String {
        switch self {
        case .notLoaded: return "not loaded"
        case .absent: return "missing: no policy is assigned, traffic is not filtered"
        case .loaded(let assigned):
            return assigned.isEmpty
                ? "loaded; no policy assigned" : "loaded; assigned: \(assigned.joined(separator: ", "))"
        case .changed(let op): return "loaded; changed by \(op)"
        case .rolledBack: return "loaded; rolled back an unconfirmed change"
        case .corrupt(let message): return "corrupt: \(message)"
        case .previousKept(let vanished, let reason):
            return (vanished ? "vanished from disk" : "corrupt on disk") + " (running the previous policy): \(reason)"
        }
    }
}

/// What is wrong, by area: each area has at most one current problem, cleared when that area
/// works again. Services report under their own names.
public enum ProblemArea: Sendable, Hashable, Comparable, CustomStringConvertible {
    case boot, config, store, apply, restore, confirm, socket, sets, dns, gateway, dhcp, wins, logFile, metricsFile,
        domain, ipsec
    case service(String)

    var rank: Int {
        switch self {
        case .boot: 0
        case .config: 1
        case .store: 2
        case .apply: 3
        case .restore: 4
        case .confirm: 5
        case .socket: 6
        case .sets: 7
        case .dns: 8
        case .gateway: 9
        case .dhcp: 10
        case .wins: 11
        case .logFile: 12
        case .metricsFile: 13
        case .domain: 14
        case .ipsec: 15
        case .service: 16
        }
    }

    public static func < (a: Self, b: Self) -> Bool {
        if case .service(let x) = a, case .service(let y) = b { return x < y }
        return a.rank < b.rank
    }

    public var description: String {
        if case .service(let name) = self { return "service \(name)" }
        return "\(self)"
    }

    init(_ type: ServerType) {
        switch type {
        case .dns: self = .dns
        case .gateway: self = .gateway
        case .dhcp: self = .dhcp
        case .wins: self = .wins
        }
    }
}

public struct Problem: Sendable, Equatable {
    public var area: ProblemArea
    public var message: String
}

/// running, or degraded with every standing problem (in a fixed order).
public enum Health: Sendable, Equatable {
    case running
    case degraded([Problem])
}

/// One long-running service as the engine knows it.
public enum ServiceState: Sendable, Equatable, CustomStringConvertible {
    case starting
    case running(since: Date)
    /// Ended unexpectedly; restarts at `retry` (nil: not restarted).
    case failed(reason: String, at: Date, retry: Date?)
    case stopped

    public var isFailed: Bool {
        if case .failed = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .starting: return "starting"
        case .running: return "running"
        case .failed(let reason, _, let retry):
            return "FAILED: \(reason)" + (retry.map { "; restarting at \(StatusReport.iso($0))" } ?? "; not restarted")
        case .stopped: return "stopped"
        }
    }
}

/// The engine's timers, each at most once: one service sleeps until the earliest.
enum TimerKind: Hashable, Sendable {
    /// The --confirm window ends: roll back unless confirmed.
    case confirmDeadline(token: Int)
    /// A failed restore of the table, again.
    case restoreRetry
    /// A server type's source changed: re-read it (a burst of events is one refresh).
    case refresh(ServerType)
    /// The first current lease ends: DHCP and WINS are read again (a lease that ends while its
    /// file stays as it is). Not a `refresh`, whose slot must stay free for changes.
    case leaseExpiry
    /// Host names are resolved again.
    case resolveNames
    /// Startup is over (READY plus its first refreshes and lookups): its code pages go back.
    case releaseStartupMemory
    /// The `ipsecloginterval` of the first drop logged since the last summary ends.
    case dropSummary
    /// After an NFLOG overrun: the next step of reconciling with the kernel's counters.
    case dropReconcile
    /// `metrics_textfile` is written again.
    case metricsFile
    /// A schedule in use opens or closes a window (docs/extensions.md).
    case scheduleCheck
    /// charon was unreachable or refused the plan: try again (docs/ipsec.md).
    case ipsecRetry
}

public struct ApplyRecord: Sendable {
    public var at: Date
    public var milliseconds: Double
    public var result: String
    public var ok: Bool
}
