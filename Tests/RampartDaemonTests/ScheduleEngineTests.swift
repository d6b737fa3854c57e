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
        await f.engine.applied?.chains.first { $0.name == "input" }?.rules.contains {
            $0.statements.contains(.accept) && $0.id.hasPrefix("F")
        } == true
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

/// A schedule's window opens and closes at its instant (issue 29, item 1): the timer's wake, the
/// evaluation and the re-arm agree, whether the timer returns a moment early or late, and an
/// edge that passes between a compile and the re-arm is not slept over.
@Suite struct ScheduleEdgeTests {
    static let policy = """
        pushd ipsec static
        add schedule name=Minute days=daily hours=00:19-00:20 timezone=UTC
        add filteraction name=P action=permit
        add filteraction name=B action=block
        add filter filterlist=Open srcaddr=any dstaddr=me protocol=udp dstport=5001
        add filter filterlist=Rest srcaddr=any dstaddr=me
        add policy name=P assign=yes
        add rule name=open policy=P filterlist=Open filteraction=P schedule=Minute
        add rule name=rest policy=P filterlist=Rest filteraction=B
        popd

        """

    static func t(_ text: String) -> Double {
        try! Date("2026-12-07T\(text)Z", strategy: .iso8601).timeIntervalSince1970
    }

    func freeze(_ f: EngineFixture, _ text: String, step: Double = 0) {
        f.clockOffset.frozen.withLock { $0 = (Self.t(text), step) }
    }

    func open(_ f: EngineFixture) async -> Bool {
        await f.engine.applied?.chains.first { $0.name == "input" }?.rules.contains {
            $0.statements.contains(.accept) && $0.id.hasPrefix("F")
        } == true
    }

    /// Fires the schedule timer as a sleep that returns `skew` seconds off its deadline would:
    /// the wall clock reads the armed change plus `skew`.
    func fire(_ f: EngineFixture, wall text: String) async throws {
        let due = try #require(await f.engine.timers[.scheduleCheck])
        freeze(f, text)
        await f.engine.fireDueTimers(now: due)
    }

    @Test(arguments: [-0.001, 0.001])
    func windowOpensAndClosesAtItsMinute(skew: Double) async throws {
        let f = try EngineFixture(policy: Self.policy)
        freeze(f, "00:18:30")
        try await f.start()
        #expect(await !open(f))
        let wall = { (base: String) in
            Date(timeIntervalSince1970: Self.t(base) + skew).formatted(
                .iso8601.time(includingFractionalSeconds: true).timeSeparator(.colon))
        }
        // The timer is armed for 00:19:00 exactly (30 s after 00:18:30).
        #expect(await f.engine.timers[.scheduleCheck] != nil)
        #expect(await f.engine.scheduleWatch.target == Date(timeIntervalSince1970: Self.t("00:19:00")))
        try await fire(f, wall: wall("00:19:00"))
        #expect(await open(f), "open at 00:19:00 (timer \(skew) s off)")
        // Re-armed for 00:20:00 from the change, not from a minute later.
        try await fire(f, wall: wall("00:20:00"))
        #expect(await !open(f), "closed at 00:20:00 (timer \(skew) s off)")
        #expect(await f.engine.timers[.scheduleCheck] != nil)
        #expect(
            await f.engine.scheduleWatch.target == nil,
            "the next change is tomorrow's: the wake is the longest sleep's check, not at once")
    }

    /// A change applied just before 00:20:00 whose re-arm runs just after it: the close is not
    /// left for the next minute's check.
    @Test func anEdgeBetweenACompileAndItsReArmIsNotMissed() async throws {
        let f = try EngineFixture(policy: Self.policy)
        freeze(f, "00:19:30")
        try await f.start()
        #expect(await open(f))
        // Each reading of the clock moves it on 2 ms: the exec compiles at 00:19:59.99x and its
        // re-arm reads 00:20:00.00x.
        freeze(f, "00:19:59.996", step: 0.002)
        #expect(await f.exec("ipsec static set policy name=P description=edge\n").ok)
        await f.engine.fireDueTimers(now: .now + .milliseconds(500))
        #expect(await !open(f), "closed within the wake that follows, not a minute later")
    }
}
