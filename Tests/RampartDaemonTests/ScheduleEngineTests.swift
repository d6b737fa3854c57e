import Foundation
import Testing
@testable import RampartDaemon
import RampartPolicy
import RampartTestKit

/// rampartd follows a schedule's windows by the (faked) wall clock: it re-applies when a window
/// opens or closes, and only then.
@Suite struct ScheduleEngineTests {
    static let policy = "pushd ipsec static\ndelete all\npopd\n" + Fixtures.officeRDP

    static func utc(_ text: String) -> Date { try! Date(text, strategy: .iso8601) }

    func setClock(_ f: EngineFixture, _ text: String) {
        let target = Self.utc(text).timeIntervalSince1970
        f.clockOffset.seconds.withLock { $0 = target - Date().timeIntervalSince1970 }
    }

    func permits(_ f: EngineFixture) async -> Bool {
        await f.engine.applied?.chains.first { $0.name == "input" }?.rules.contains { $0.statements.contains(.accept) && $0.id.hasPrefix("F") } == true
    }

    @Test func windowsOpenAndCloseByTheWallClockAcrossDST() async throws {
        let f = try EngineFixture()
        // Friday 2026-03-27 16:00 CET (15:00 UTC): inside the window. The faked clock runs on
        // in real time, so each step leaves room for a slow run (the AddressSanitizer suite).
        setClock(f, "2026-03-27T15:00:00Z")
        try await f.start()
        #expect(await f.exec(Self.policy).ok)
        #expect(await permits(f), "inside office hours the permit rule is in force")
        #expect(await f.engine.timers[.scheduleCheck] != nil)
        let afterOpen = f.transport.transactions.count

        // At 18:00 CET the window closes: one apply, without the permit.
        setClock(f, "2026-03-27T17:00:00Z")
        await f.engine.fireDueTimers(now: .now + .seconds(61))
        #expect(f.transport.transactions.count == afterOpen + 1)
        #expect(await !permits(f))

        // Nothing changes over the weekend (the check runs, nothing is applied). Europe's DST
        // change is on Sunday 2026-03-29: 02:00 CET → 03:00 CEST.
        setClock(f, "2026-03-29T12:00:00Z")
        await f.engine.fireDueTimers(now: .now + .seconds(61))
        #expect(f.transport.transactions.count == afterOpen + 1)

        // Monday 07:30 CEST is 05:30 UTC: still closed (a UTC window fixed in winter would open
        // at 07:00 UTC = 09:00 CEST, an hour late; at 06:00 UTC it is 08:00 here).
        setClock(f, "2026-03-30T05:30:00Z")
        await f.engine.fireDueTimers(now: .now + .seconds(61))
        #expect(await !permits(f))
        setClock(f, "2026-03-30T06:00:00Z")
        await f.engine.fireDueTimers(now: .now + .seconds(61))
        #expect(await permits(f), "08:00 CEST opened the window")
        #expect(f.transport.transactions.count == afterOpen + 2)
        // The next check is at the window's end or within a minute, whichever is first.
        let next = try #require(await f.engine.timers[.scheduleCheck])
        #expect(next <= .now + .seconds(61))
    }
}
