import FoundationEssentials
import Logging

/// What a feature asks of the engine. A feature's type holds only its own state; its methods
/// return effects, and the engine performs them in one place (`PolicyEngine.perform`), so no
/// feature reaches into another's state or the engine's timers.
enum Effect: Sendable, Equatable {
    case schedule(TimerKind, after: Duration)
    case cancel(TimerKind)
    /// A standing problem in `area` (degraded until cleared); logged when its text is new.
    case report(ProblemArea, String)
    case clear(ProblemArea)
    case log(Logger.Level, String, fields: [String: String] = [:])
    /// charon is given the plan of the policy in force (loaded only if it changed).
    case syncIPsec
    /// charon holds rampart's connections: the IPsec event service may listen.
    case ringIPsec
    /// The lookup service has host names to resolve.
    case ringLookup
    /// The sets whose source is one of these are refilled from the address book.
    case updateSets(Set<String>)
}

extension PolicyEngine {
    func perform(_ effects: [Effect]) {
        for effect in effects { perform(effect) }
    }

    func perform(_ effect: Effect) {
        switch effect {
        case .schedule(let kind, let delay): schedule(kind, after: delay)
        case .cancel(let kind): cancelTimer(kind)
        case .report(let area, let message): report(area, message)
        case .clear(let area): clearProblem(area)
        case .log(let level, let message, let fields):
            logger.log(level: level, "\(message)", metadata: fields.isEmpty ? nil : fields.mapValues { .string($0) })
        case .syncIPsec: syncIPsec()
        case .ringIPsec: channels.ipsecBell.ring()
        case .ringLookup: channels.lookupBell.ring()
        case .updateSets(let sources): updateSets(sources: sources)
        }
    }
}
