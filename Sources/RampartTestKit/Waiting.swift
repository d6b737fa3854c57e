import Foundation

/// The one wait of the tests that run real processes: checks `condition` every 20 ms until it
/// holds or `seconds` have passed; whether it held. Tests wait on what they can see happen (a
/// port that answers, a line in a log, the daemon's status), never for a fixed time.
public func pollUntil(seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    repeat {
        if try condition() { return true }
        usleep(20_000)
    } while Date() < deadline
    return try condition()
}

/// What `waitUntil` throws when its condition never held.
public struct WaitTimedOut: Error, CustomStringConvertible {
    public let description: String
}

/// `pollUntil`, for 30 s at most; throws naming `what` when it never holds.
public func waitUntil(_ what: String, seconds: Double = 30, _ condition: () throws -> Bool) throws {
    guard try pollUntil(seconds: seconds, condition) else {
        throw WaitTimedOut(description: "timed out after \(seconds) s waiting until \(what)")
    }
}
