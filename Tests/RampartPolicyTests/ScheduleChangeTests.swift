import Foundation
import Testing
import RampartPolicy
import RampartTestKit

/// `isActive` flips exactly at `nextChange`, and nowhere between (random schedules, instants
/// and zones, over DST changes).
@Suite struct ScheduleChangeProperty {
    @Test func isActiveFlipsExactlyAtNextChange() {
        var random = SplitMix(state: 29)
        let zones = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
        for _ in 0..<300 {
            let start = Int(random.next() % 1440)
            var end = Int(random.next() % 1440) + 1
            if end == start { end = (start + 1) % 1440 + 1 }
            let schedule = Schedule(
                name: "S", days: UInt8(truncatingIfNeeded: random.next() % 127) + 1, start: start, end: end,
                timezone: zones[Int(random.next() % UInt64(zones.count))], seq: 1)
            // Anywhere in 2026, at any millisecond.
            let t = Date(timeIntervalSince1970: 1_767_225_600 + Double(random.next() % (365 * 86_400_000)) / 1000)
            guard let next = schedule.nextChange(after: t) else { continue }
            let before = schedule.isActive(at: t)
            #expect(next > t)
            #expect(schedule.isActive(at: next) != before, "\(schedule.summary) at \(t): no flip at \(next)")
            #expect(
                schedule.isActive(at: next.addingTimeInterval(-0.001)) == before,
                "\(schedule.summary): flipped before \(next)")
            // No flip between: 200 whole minutes spread over (t, next).
            let first = (t.timeIntervalSince1970 / 60).rounded(.down) + 1
            let minutes = Int((next.timeIntervalSince1970 / 60).rounded(.up) - first)
            for m in stride(from: first, to: first + Double(minutes), by: Double(max(1, minutes / 200)))
            where m * 60 < next.timeIntervalSince1970 {
                #expect(
                    schedule.isActive(at: Date(timeIntervalSince1970: m * 60)) == before,
                    "\(schedule.summary): flipped at minute \(m) before \(next)")
            }
        }
    }
}
