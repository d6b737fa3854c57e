import Foundation
import Testing
import RampartTestKit
@testable import RampartPolicy

/// Schedules read the wall clock of their zone at every instant: exact in local time across DST
/// (America/New_York: 2026-03-08 02:00 EST → 03:00 EDT, 2026-11-01 02:00 EDT → 01:00 EST).
@Suite struct ScheduleTests {
    static func utc(_ text: String) -> Date { try! Date(text, strategy: .iso8601) }

    static let office = Schedule(
        name: "Office", days: try! Schedule.parseDays("mon-fri").get(), start: 8 * 60, end: 18 * 60,
        timezone: "America/New_York", seq: 1)

    @Test func officeHoursFollowTheLocalClockAcrossBothDSTChanges() {
        let s = Self.office
        // Winter: 08:00 EST is 13:00 UTC.
        #expect(!s.isActive(at: Self.utc("2026-03-06T12:59:00Z")))
        #expect(s.isActive(at: Self.utc("2026-03-06T13:00:00Z")))
        #expect(s.isActive(at: Self.utc("2026-03-06T22:59:00Z")))
        #expect(!s.isActive(at: Self.utc("2026-03-06T23:00:00Z")))
        // The weekend of the change: closed.
        #expect(!s.isActive(at: Self.utc("2026-03-07T15:00:00Z")) && !s.isActive(at: Self.utc("2026-03-08T15:00:00Z")))
        // Summer: 08:00 EDT is 12:00 UTC — a window fixed in UTC in winter (what nft's `meta hour`
        // keeps) would open an hour late and close an hour late from here on.
        #expect(s.isActive(at: Self.utc("2026-03-09T12:00:00Z")))
        #expect(!s.isActive(at: Self.utc("2026-03-09T11:59:00Z")))
        #expect(!s.isActive(at: Self.utc("2026-03-09T22:00:00Z")))
        // Back to winter on Monday 2026-11-02.
        #expect(!s.isActive(at: Self.utc("2026-11-02T12:00:00Z")))
        #expect(s.isActive(at: Self.utc("2026-11-02T13:00:00Z")))
    }

    @Test func nextChangeCrossesTheWeekendAndTheDSTChange() {
        let s = Self.office
        // Friday 17:59 EST → closes at 18:00 EST (23:00 UTC).
        #expect(s.nextChange(after: Self.utc("2026-03-06T22:59:00Z")) == Self.utc("2026-03-06T23:00:00Z"))
        // Saturday → opens Monday 08:00 EDT (12:00 UTC), after the spring-forward night.
        #expect(s.nextChange(after: Self.utc("2026-03-07T12:00:00Z")) == Self.utc("2026-03-09T12:00:00Z"))
        #expect(s.nextChange(after: Self.utc("2026-10-31T12:00:00Z")) == Self.utc("2026-11-02T13:00:00Z"))
        let always = Schedule(name: "Always", days: 0x7f, start: 0, end: 1440, seq: 2)
        #expect(always.nextChange(after: Self.utc("2026-03-07T12:00:00Z")) == nil)
    }

    /// The boundary-jumping search agrees with a minute-by-minute scan, around DST changes in
    /// zones with 1-hour, 30-minute (Lord Howe) and 45-minute-offset (Chatham) rules.
    @Test func nextChangeEqualsAMinuteByMinuteScan() {
        func scan(_ s: Schedule, _ from: Date) -> Date? {
            let now = s.isActive(at: from)
            var t = (from.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60
            for _ in 0..<(8 * 24 * 60) {
                if s.isActive(at: Date(timeIntervalSince1970: t)) != now { return Date(timeIntervalSince1970: t) }
                t += 60
            }
            return nil
        }
        let zones = ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Pacific/Chatham", "UTC"]
        let starts = [
            "2026-03-07T00:00:00Z", "2026-03-28T18:00:00Z", "2026-04-04T10:00:00Z", "2026-10-31T20:00:00Z",
            "2026-09-26T12:00:00Z"
        ]
        var random = SplitMix(state: 7)
        var compared = 0
        for zone in zones {
            for start in starts {
                for _ in 0..<6 {
                    let a = Int(random.next() % 1440), b = Int(random.next() % 1440) + 1
                    guard a != b else { continue }
                    let s = Schedule(
                        name: "R", days: UInt8(random.next() % 127) + 1, start: a, end: b, timezone: zone, seq: 1)
                    let from = Self.utc(start).addingTimeInterval(Double(random.next() % (3 * 86_400)))
                    #expect(
                        s.nextChange(after: from) == scan(s, from), "\(zone) \(s.summary) \(s.hoursText) from \(from)")
                    compared += 1
                }
            }
        }
        #expect(compared > 100)
    }

    @Test func windowsOverMidnightAndInTheSkippedHour() {
        let night = Schedule(
            name: "Night", days: try! Schedule.parseDays("fri").get(), start: 22 * 60, end: 6 * 60, timezone: "UTC",
            seq: 1)
        #expect(night.isActive(at: Self.utc("2026-03-06T22:00:00Z")))  // Friday 22:00
        #expect(night.isActive(at: Self.utc("2026-03-07T05:59:00Z")))  // Saturday 05:59: Friday's window
        #expect(!night.isActive(at: Self.utc("2026-03-07T06:00:00Z")))
        #expect(!night.isActive(at: Self.utc("2026-03-07T22:00:00Z")))  // Saturday is not listed
        // 02:30-04:00 on the night 02:00-03:00 does not exist: the window opens at 03:00 EDT.
        let gap = Schedule(
            name: "Gap", days: try! Schedule.parseDays("sun").get(), start: 150, end: 240, timezone: "America/New_York",
            seq: 1)
        #expect(!gap.isActive(at: Self.utc("2026-03-08T06:59:00Z")))  // 01:59 EST
        #expect(gap.isActive(at: Self.utc("2026-03-08T07:00:00Z")))  // 03:00 EDT
        #expect(gap.nextChange(after: Self.utc("2026-03-08T06:00:00Z")) == Self.utc("2026-03-08T07:00:00Z"))
        // 04:00 EDT
        #expect(gap.nextChange(after: Self.utc("2026-03-08T07:00:00Z")) == Self.utc("2026-03-08T08:00:00Z"))
    }

    @Test func parsing() throws {
        #expect(try Schedule.parseDays("mon-fri").get() == 0x1f)
        #expect(try Schedule.parseDays("sat,sun").get() == 0x60)
        #expect(try Schedule.parseDays("fri-mon").get() == 0x71)
        #expect(try Schedule.parseDays("daily").get() == 0x7f)
        #expect(throws: ValueError.self) { try Schedule.parseDays("monday").get() }
        #expect(try Schedule.parseHours("08:00-18:00").get() == (480, 1080))
        #expect(try Schedule.parseHours("00:00-24:00").get() == (0, 1440))
        #expect(throws: ValueError.self) { try Schedule.parseHours("8-18").get() }
        #expect(throws: ValueError.self) { try Schedule.parseHours("10:00-10:00").get() }
        #expect(throws: ValueError.self) { try Schedule.parseHours("24:00-01:00").get() }
        #expect(try Schedule.parseTimeZone("Europe/Berlin").get() == "Europe/Berlin")
        #expect(throws: ValueError.self) { try Schedule.parseTimeZone("Mars/Olympus").get() }
    }

    @Test func commandsStoreAndDump() throws {
        let i = try runStatic(
            """
            add schedule name=Office days=mon-fri hours=08:00-18:00 timezone=America/New_York description="office hours"
            add filteraction name=P action=permit
            add filter filterlist=L srcaddr=any dstaddr=me protocol=tcp dstport=3389
            add policy name=Pol assign=yes
            add rule name=rdp policy=Pol filterlist=L filteraction=P schedule=Office
            """)
        #expect(i.store.local.policies[0].rules[0].schedule == "Office")
        #expect(i.store.local.schedules[0].summary == "mon,tue,wed,thu,fri 08:00-18:00 America/New_York")
        #expect(try StoreCodec.decode(StoreCodec.encode(i.store)) == i.store)
        let dumped = ScriptWriter.dump(i.store)
        #expect(
            dumped.contains(
                "add schedule name=Office days=mon,tue,wed,thu,fri hours=08:00-18:00 timezone=America/New_York description=\"office hours\""
            ), "\(dumped)")
        #expect(dumped.contains("schedule=Office"))
        let restored = try run(dumped, file: "dump.netsh").store
        #expect(restored.local.schedules.map(\.summary) == i.store.local.schedules.map(\.summary))
        #expect(restored.local.policies[0].rules[0].schedule == "Office")
        // In use: not deletable; a rule clears it with schedule=none, then it is.
        #expect(
            staticError(
                """
                add schedule name=S days=daily hours=00:00-12:00
                add filterlist name=L
                add filteraction name=P action=permit
                add policy name=Pol
                add rule name=r policy=Pol filterlist=L filteraction=P schedule=S
                delete schedule name=S
                """)?.message.hasPrefix("schedule 'S' is used by rule 'r' of policy 'Pol'") == true)
        let cleared = try runStatic(
            """
            add schedule name=S days=daily hours=00:00-12:00
            add filterlist name=L
            add filteraction name=P action=permit
            add policy name=Pol
            add rule name=r policy=Pol filterlist=L filteraction=P schedule=S
            set rule name=r policy=Pol schedule=none
            delete schedule name=S
            """)
        #expect(cleared.store.local.schedules.isEmpty && cleared.store.local.policies[0].rules[0].schedule == nil)
        #expect(
            staticError(
                "add filterlist name=L\nadd filteraction name=P action=permit\nadd policy name=Pol\nadd rule name=r policy=Pol filterlist=L filteraction=P schedule=Nope"
            )?.message
                .hasPrefix("no schedule named 'Nope' in the local store") == true)
    }
}
