import FoundationEssentials
import RampartCompiler
import RampartNetlink
import RampartReport

/// Where the NFLOG reader's packets come from, as drop accounting needs it (`DropQueue`).
protocol DropSource: AnyObject, Sendable {
    /// Every rampart packet seen or counted lost, since the start.
    var accounted: Int { get }
    /// The reader's event count when it is idle with nothing in its socket; nil while busy.
    func quiet() -> Int?
    /// Whether packets or losses wait for the engine to take them.
    var holding: Bool { get }
}

extension DropQueue: DropSource {}

/// Where the reconciliation after an NFLOG overrun stands (`DropLogging.reconcile`).
enum DropReconciliation: Sendable, Equatable {
    case idle
    /// Waiting for the reader to be idle with nothing in its socket.
    case wanted
    /// The kernel counted `kernel` logged packets while the reader had seen `events` datagrams.
    case counted(events: Int, kernel: UInt64, generation: Int)
}

/// Logged drops since rampartd started, by "direction kind", for the metrics.
struct DropTotals: Sendable, Equatable {
    var byKind: [String: Int] = [:]
    var itemised = 0
    var notItemised = 0
    var lost = 0

    mutating func add(_ summary: DropAggregator.Summary) {
        for r in summary.records { byKind["\(r.key.direction) \(r.key.kind.rawValue)", default: 0] += r.count }
        for (key, count) in summary.notItemisedByKind { byKind[key, default: 0] += count }
        itemised += summary.itemised
        notItemised += summary.notItemised.values.reduce(0, +)
        lost += summary.lost
    }
}

/// Drop logging's state (docs/logging.md): the packets the ruleset's log rules hand to NFLOG,
/// attributed to the filter that dropped them and aggregated per `ipsecloginterval`; no timer
/// runs while nothing is dropped. Tail losses after an NFLOG overrun are found by reconciling
/// with the kernel's counters (`reconcile`).
struct DropLogging: Sendable {
    /// The interval's length and its distinct-record limit.
    struct Settings: Sendable {
        var interval: Int
        var recordLimit: Int
    }

    /// The current interval (nil until its first drop) and the last interval's summary.
    private(set) var current: DropAggregator?
    private(set) var lastSummary: DropAggregator.Summary?
    private(set) var totals = DropTotals()
    /// Intervals summarised since the start.
    private(set) var intervals = 0
    /// Interface names by index, cached for the interval: a flood must not cost an ioctl a packet.
    private var interfaceNames: [UInt32: String] = [:]
    /// The reader's queue, the kernel's logged count and the queue's `accounted` when they last
    /// agreed, where a reconciliation stands, and a number that changes with every ruleset that
    /// replaces the rules (and their counters).
    private(set) var source: (any DropSource)?
    private(set) var baseline: (kernel: UInt64, accounted: Int)?
    private(set) var reconciliation = DropReconciliation.idle
    private(set) var generation = 0

    /// Packets from NFLOG, and what the reader counted as lost since the last batch.
    mutating func logged(
        _ packets: [NflogPacket], lost: Int, overrun: Bool, at time: Date, ruleset: Ruleset,
        settings: Settings, interfaceName: (UInt32) -> String
    ) -> [Effect] {
        var effects: [Effect] = []
        if lost > 0 || overrun {
            effects += start(at: time, settings)
            current?.lost(lost)
        }
        if overrun && reconciliation == .idle && source != nil {
            reconciliation = .wanted
            effects.append(.schedule(.dropReconcile, after: .milliseconds(100)))
        }
        for logged in packets {
            let outbound = logged.hook == 3
            let interface = (outbound ? logged.outInterface : logged.inInterface).map { name($0, interfaceName) } ?? ""
            // Another table's log rule may use the group too: only rampart's prefixes are records.
            guard let packet = Packet(headers: logged.payload[...], interface: interface),
                let attribution = LogAttribution(prefix: logged.prefix, packet: packet, ruleset: ruleset)
            else { continue }
            effects += start(at: time, settings)
            current?.add(attribution, packet, direction: outbound ? "out" : "in", at: time.timeIntervalSince1970)
        }
        return effects
    }

    private mutating func name(_ index: UInt32, _ lookup: (UInt32) -> String) -> String {
        if let known = interfaceNames[index] { return known }
        let found = lookup(index)
        interfaceNames[index] = found
        return found
    }

    /// The interval of the first drop since the last summary begins: its summary is due at its end.
    mutating func start(at time: Date, _ settings: Settings) -> [Effect] {
        guard current == nil else { return [] }
        current = DropAggregator(limit: settings.recordLimit, start: time.timeIntervalSince1970)
        return [.schedule(.dropSummary, after: .seconds(settings.interval))]
    }

    /// Ends the interval: its summary, counted in the totals (nil when no interval runs).
    mutating func finish(at time: Date) -> DropAggregator.Summary? {
        guard var running = current else { return nil }
        let summary = running.finish(at: time.timeIntervalSince1970)
        current = nil
        interfaceNames = [:]
        lastSummary = summary
        totals.add(summary)
        intervals += 1
        return summary
    }

    /// The totals with the running interval's drops in them.
    func liveTotals(at time: Date) -> DropTotals {
        var live = totals
        if let running = current?.current(at: time.timeIntervalSince1970) { live.add(running) }
        return live
    }

    /// The running interval's summary so far, then the last one's: what the monitor shows.
    func recentSummaries(at time: Date) -> [DropAggregator.Summary] {
        (current.map { [$0.current(at: time.timeIntervalSince1970)] } ?? []) + (lastSummary.map { [$0] } ?? [])
    }

    /// Where drop logging stands, given what the kernel's log rules have counted now (nil: the
    /// counters could not be read): what is unread is what they counted beyond what came or was
    /// counted lost. The file writer's part is the caller's.
    func activity(kernel: UInt64?) -> DropActivity {
        var activity = DropActivity()
        activity.intervals = intervals
        activity.collecting = current != nil
        activity.reconciling = reconciliation != .idle
        if let source, let baseline, let kernel {
            let beyond = (Int(kernel) - Int(baseline.kernel)) - (source.accounted - baseline.accounted)
            activity.unread = max(0, beyond)
            activity.collecting = activity.collecting || source.holding
        }
        return activity
    }

    /// The drop-log service's queue: from now on, what it accounts for is compared with what the
    /// kernel's rules counted since now (`kernel`).
    mutating func attach(_ queue: any DropSource, kernel: UInt64) {
        source = queue
        baseline = (kernel, queue.accounted)
    }

    /// A ruleset replaced every rule: their counters start again from 0.
    mutating func rulesReplaced() {
        generation += 1
        baseline = (0, source?.accounted ?? 0)
    }

    /// A delta added or deleted log rules: the kernel's logged count is `kernel` now (the deleted
    /// rules' counts went with them), and is compared with what the reader accounts for from here.
    mutating func rulesChanged(kernel: UInt64) {
        generation += 1
        baseline = (kernel, source?.accounted ?? 0)
    }

    /// What a step of reconciliation needs next.
    enum ReconcileStep: Equatable {
        case done([Effect])
        /// The reader is idle at `events`: the kernel's logged count is read, then `kernelCounted`.
        case readKernel(events: Int)
    }

    /// After ENOBUFS the loss is known from the next packet's sequence number; packets the kernel
    /// could not deliver after the last one that came show in no gap. So once the reader is idle
    /// with nothing in its socket, the kernel's count of logged packets is read (`kernelCounted`),
    /// and when, 30 ms later (three NFLOG flush timeouts: all those packets have been sent or
    /// dropped), the reader still has had nothing, what the counters saw beyond what came or was
    /// counted lost is lost too. A flood that goes on postpones it; a ruleset replaced in between
    /// starts it again. Exact unless a ruleset is replaced while its log rules' packets are still
    /// in flight: then that interval's total can only come out lower (docs/logging.md).
    mutating func reconcile(at time: Date, _ settings: Settings) -> ReconcileStep {
        guard let source, let baseline else {
            reconciliation = .idle
            return .done([])
        }
        switch reconciliation {
        case .idle:
            return .done([])
        case .wanted:
            guard let events = source.quiet() else {
                return .done([.schedule(.dropReconcile, after: .milliseconds(100))])
            }
            return .readKernel(events: events)
        case .counted(let events, let kernel, let counted):
            guard counted == generation, source.quiet() == events else {
                reconciliation = .wanted
                return .done([.schedule(.dropReconcile, after: .milliseconds(100))])
            }
            reconciliation = .idle
            let accounted = source.accounted
            let unseen = (Int(kernel) - Int(baseline.kernel)) - (accounted - baseline.accounted)
            self.baseline = (kernel, accounted)
            guard unseen > 0 else { return .done([]) }
            let effects = start(at: time, settings)
            current?.lost(unseen)
            return .done(
                effects + [
                    .log(
                        .notice,
                        "NFLOG overrun: \(unseen) drop(s) after the last delivered packet are counted as lost (kernel counters)"
                    )
                ])
        }
    }

    /// The kernel's logged count, read while the reader was idle at `events`: checked again in 30 ms.
    mutating func kernelCounted(_ kernel: Result<UInt64, any Error>, events: Int) -> [Effect] {
        switch kernel {
        case .success(let count):
            reconciliation = .counted(events: events, kernel: count, generation: generation)
            return [.schedule(.dropReconcile, after: .milliseconds(30))]
        case .failure(let error):
            return [
                .log(
                    .warning,
                    "after an NFLOG overrun the kernel's counters could not be read (\(error)); trying again in 1 s"),
                .schedule(.dropReconcile, after: .seconds(1))
            ]
        }
    }
}
