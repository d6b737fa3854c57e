/// The engine's timers, each kind at most once: the timer service sleeps until the earliest.
/// A feature asks for one with `Effect.schedule`; `fireDueTimers` hands each due kind to its owner.
struct Timers: Sendable {
    private(set) var deadlines: [TimerKind: ContinuousClock.Instant] = [:]

    subscript(kind: TimerKind) -> ContinuousClock.Instant? { deadlines[kind] }

    /// Arms `kind` for `instant`, replacing an earlier arming of the same kind.
    mutating func schedule(_ kind: TimerKind, at instant: ContinuousClock.Instant) {
        deadlines[kind] = instant
    }

    mutating func cancel(_ kind: TimerKind) {
        deadlines[kind] = nil
    }

    /// The earliest deadline, for the timer service.
    var next: ContinuousClock.Instant? { deadlines.values.min() }

    /// Removes the timers due at `now` and returns them, earliest first.
    mutating func takeDue(at now: ContinuousClock.Instant) -> [TimerKind] {
        let due = deadlines.filter { $0.value <= now }.sorted { $0.value < $1.value }.map(\.key)
        for kind in due { deadlines[kind] = nil }
        return due
    }
}
