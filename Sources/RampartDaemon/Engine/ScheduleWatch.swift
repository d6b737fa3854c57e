import FoundationEssentials
import RampartCompiler
import RampartPolicy

/// Follows the schedules a policy uses (docs/extensions.md): when to wake, which instant a wake
/// stands for, and which windows opened or closed. The wake, the evaluation and the re-arm all
/// come from `Schedule.nextChange`, so they cannot disagree: a timer that returns a moment
/// early is evaluated at the change it was armed for, not a minute later (issue 29).
struct ScheduleWatch: Sendable, Equatable {
    /// The change the armed timer waits for; nil while it only waits for the next minute's check.
    private(set) var target: Date?
    /// Each schedule in use, open or not, at the last evaluation.
    private(set) var open: [String: Bool] = [:]

    /// Longest sleep: a wall-clock step (NTP, a resumed VM) is caught within it. Over a minute, so
    /// the change a minute after the last one is armed for directly.
    static let longestSleep: Double = 61
    /// A wake this close before its target stands for the target; farther off (the wall clock
    /// was stepped back), it is evaluated as it is and the timer re-armed.
    static let earlyWakeTolerance: Double = 1

    /// The delay to the next wake for `store` after the evaluation at `instant`, nil when no
    /// schedule in use ever changes.
    mutating func plan(_ store: Store, after instant: Date, now: Date) -> Duration? {
        // A schedule new to the watch starts from its state now, so its first edge is logged.
        for schedule in EffectiveFilters.schedulesInUse(store) where open[schedule.name] == nil {
            open[schedule.name] = schedule.isActive(at: instant)
        }
        guard let next = EffectiveFilters.nextScheduleChange(store, after: instant) else {
            target = nil
            return nil
        }
        let seconds = next.timeIntervalSince(now)
        target = seconds <= Self.longestSleep ? next : nil
        let delay = min(max(seconds, 0), Self.longestSleep)
        return .nanoseconds(Int64((delay * 1e9).rounded(.up)))
    }

    /// The instant a wake at `now` is evaluated at: the change it was armed for when it came at
    /// most a second early, else `now`.
    func instant(wokenAt now: Date) -> Date {
        guard let target, target > now, target.timeIntervalSince(now) <= Self.earlyWakeTolerance else { return now }
        return target
    }

    /// The windows that opened or closed since the last evaluation, as log lines; remembers the
    /// state at `instant`.
    mutating func edges(_ store: Store, at instant: Date) -> [String] {
        var now: [String: Bool] = [:]
        var lines: [String] = []
        for schedule in EffectiveFilters.schedulesInUse(store) {
            let active = schedule.isActive(at: instant)
            now[schedule.name] = active
            if let before = open[schedule.name], before != active {
                lines.append(
                    "schedule \(schedule.name) (\(schedule.summary)): window \(active ? "opened" : "closed") at \(Self.iso(instant))"
                )
            }
        }
        open = now
        return lines
    }

    static func iso(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
