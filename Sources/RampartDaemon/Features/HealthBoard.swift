import FoundationEssentials

/// What is wrong, by area, and the long-running services as the engine knows them: rampartd is
/// degraded while any problem stands. A service that fails reports under its own name, and READY
/// waits until every expected service has started or failed once.
struct HealthBoard: Sendable {
    private(set) var problems: [ProblemArea: String] = [:]
    private(set) var services: [String: ServiceState] = [:]
    /// How often each service has failed, and why the last time: kept after it runs again.
    private(set) var failures: [String: (count: Int, last: String)] = [:]
    private(set) var expected: Set<String> = []

    /// Records `message` for `area`; true when it is new (the engine logs it once, not at every retry).
    mutating func report(_ area: ProblemArea, _ message: String) -> Bool {
        defer { problems[area] = message }
        return problems[area] != message
    }

    mutating func clear(_ area: ProblemArea) {
        problems[area] = nil
    }

    /// Every standing problem, in a fixed order.
    var list: [Problem] {
        problems.sorted { $0.key < $1.key }.map { Problem(area: $0.key, message: $0.value) }
    }

    /// running, or degraded with every standing problem.
    var verdict: Health { list.isEmpty ? .running : .degraded(list) }

    /// The services about to start.
    mutating func expect(_ names: [String]) {
        expected = Set(names)
        for name in names where services[name] == nil { services[name] = .starting }
    }

    /// Every expected service has started or failed once.
    var settled: Bool {
        expected.allSatisfy { services[$0].map { $0 != .starting } ?? false }
    }

    /// A service runs (again); true when it had failed.
    mutating func running(_ name: String, since: Date) -> Bool {
        let recovered = services[name]?.isFailed ?? false
        services[name] = .running(since: since)
        problems[.service(name)] = nil
        return recovered
    }

    /// A service ended without being asked to; the problem's text, for `report`.
    mutating func failed(_ name: String, reason: String, at time: Date, retryIn: Duration?) -> String {
        services[name] = .failed(
            reason: reason, at: time, retry: retryIn.map { time.addingTimeInterval(Self.seconds($0)) })
        failures[name] = ((failures[name]?.count ?? 0) + 1, reason)
        return "service \(name) stopped: \(reason)" + (retryIn.map { "; restarting in \($0)" } ?? "")
    }

    mutating func stopped(_ name: String) {
        services[name] = .stopped
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
