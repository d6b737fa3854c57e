import RampartControl

/// One monitor frame per second for every client (issue 29, item 5: eight members' monitors on
/// 100,000 filters starved root): a frame built or being built within `lifetime` is shared.
struct SharedFrame: Sendable {
    private(set) var frame: (at: ContinuousClock.Instant, reply: Task<ControlResponse, Never>)?
    /// How long a frame is shared (tests lengthen it: a loaded machine spreads requests).
    private(set) var lifetime: Duration = .seconds(1)

    /// The frame to share at `now`, if one is young enough.
    func shared(at now: ContinuousClock.Instant) -> Task<ControlResponse, Never>? {
        guard let frame, now - frame.at < lifetime else { return nil }
        return frame.reply
    }

    mutating func started(_ reply: Task<ControlResponse, Never>, at now: ContinuousClock.Instant) {
        frame = (now, reply)
    }

    mutating func setLifetime(_ lifetime: Duration) { self.lifetime = lifetime }
}
