import FoundationEssentials
import RampartCompiler
import RampartNetlink

/// Applies since rampartd started, for the metrics.
struct ApplyTotals: Sendable, Equatable {
    var applies = 0
    var failures = 0
    var seconds: Double = 0
}

/// Table inet rampart as rampartd left it: the ruleset enforced, the kernel's generation id after
/// our last commit (a later one is someone else's), whether the table found at start is the
/// previous rampartd's, the restore retry after a foreign change, and the applies' record.
struct TableState: Sendable {
    private(set) var enforcement = Enforcement.nothing
    private(set) var generation: UInt32?
    /// Started over a table a previous rampartd left (a restart): the boot ruleset is applied only
    /// if the policy cannot be.
    private(set) var bootDeferred = false
    /// A failed restore is retried with this delay, doubling to 5 s.
    private(set) var restoreRetryDelay: Duration?
    private(set) var restores = 0
    private(set) var lastApply: ApplyRecord?
    private(set) var totals = ApplyTotals()

    /// The previous rampartd's table stays until the policy replaces it; `boot` is its fallback.
    mutating func deferBoot(_ boot: Enforcement) {
        enforcement = boot
        bootDeferred = true
    }

    mutating func bootNoLongerDeferred() { bootDeferred = false }

    /// `target` was committed whole (every rule replaced) or as set elements only.
    mutating func committed(
        _ target: Enforcement, generation: UInt32?, at time: Date, milliseconds: Double, result: String, whole: Bool
    ) {
        enforcement = target
        self.generation = generation
        if whole { bootDeferred = false }
        record(ApplyRecord(at: time, milliseconds: milliseconds, result: result, ok: true))
    }

    mutating func failed(at time: Date, milliseconds: Double, error: String) {
        record(ApplyRecord(at: time, milliseconds: milliseconds, result: error, ok: false))
    }

    private mutating func record(_ apply: ApplyRecord) {
        lastApply = apply
        if apply.ok { totals.applies += 1 } else { totals.failures += 1 }
        totals.seconds += apply.milliseconds / 1000
    }

    /// The boot ruleset, or some sets' elements refilled (the address book): in the kernel, and not
    /// counted as an apply of the policy.
    mutating func enforced(_ target: Enforcement, generation: UInt32?) {
        enforcement = target
        self.generation = generation
    }

    /// A notification overrun hid who changed the table: it is as we left it when no transaction
    /// came after ours.
    func isAsLeft(generationNow: UInt32?) -> Bool {
        guard let ours = generation, let now = generationNow else { return false }
        return ours == now
    }

    /// The table is ours again: the retry is disarmed.
    mutating func restored() -> [Effect] {
        restores += 1
        restoreRetryDelay = nil
        return [.cancel(.restoreRetry)]
    }

    /// A restore failed: retried from 100 ms, doubling to 5 s.
    mutating func restoreFailed(_ error: String) -> [Effect] {
        let delay = min((restoreRetryDelay ?? .milliseconds(50)) * 2, .seconds(5))
        restoreRetryDelay = delay
        return [
            .report(
                .restore,
                "table inet rampart could not be restored (\(error)); the \(enforcement) is NOT enforced; retrying every \(delay) at most"
            ),
            .schedule(.restoreRetry, after: delay)
        ]
    }
}
