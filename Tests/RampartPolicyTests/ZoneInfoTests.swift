import Foundation
import Testing
import RampartTestKit
@testable import RampartPolicy

/// The tz database reader against Foundation's TimeZone (ICU's own copy of the database) as the
/// oracle: the same UTC offset at random instants from 1970 to 2100 (past the transitions the files
/// list, where the POSIX rule of the footer takes over), in zones with every kind of rule — both
/// hemispheres, half- and quarter-hour offsets, a half-hour daylight shift, negative daylight time.
struct ZoneInfoTests {
    static let zones = [
        "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "Australia/Lord_Howe",
        "Pacific/Chatham", "America/St_Johns", "Europe/Dublin", "America/Sao_Paulo", "Pacific/Kiritimati",
        "Europe/London", "America/Los_Angeles", "Pacific/Auckland", "Asia/Tokyo", "UTC"
    ]

    @Test(arguments: zones)
    func offsetsAgreeWithFoundation(zone name: String) throws {
        let ours = try #require(ZoneInfo.named(name))
        let theirs = try #require(TimeZone(identifier: name))
        var rng = SplitMix(state: UInt64(name.utf8.reduce(7) { $0 &* 31 &+ UInt64($1) }))
        var disagreements: [String] = []
        for _ in 0..<4_000 {
            let t = Int64(rng.next() % UInt64(4_102_444_800))  // 1970 … 2100
            let expected = theirs.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(t)))
            if Int(ours.offset(at: t)) != expected {
                disagreements.append("\(t): \(ours.offset(at: t)) vs \(expected)")
            }
        }
        #expect(disagreements.isEmpty, "\(name): \(disagreements.prefix(5))")
    }

    /// Around each daylight-saving change of 2026 and of 2090 (the footer's rule), minute by minute.
    @Test(arguments: ["Europe/Berlin", "Australia/Sydney", "America/New_York", "Australia/Lord_Howe"])
    func transitionsToTheMinute(zone name: String) throws {
        let ours = try #require(ZoneInfo.named(name))
        let theirs = try #require(TimeZone(identifier: name))
        for year in [2026, 2090] {
            let start = Int64(Civil.days(year: Int64(year), month: 1, day: 1) * 86_400)
            var t = start
            var previous = theirs.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(t)))
            while t < start + 366 * 86_400 {
                let now = theirs.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(t)))
                if now != previous {
                    for m in stride(from: t - 7200, through: t + 7200, by: 60) {
                        let expected = theirs.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(m)))
                        #expect(Int(ours.offset(at: m)) == expected, "\(name) at \(m)")
                    }
                    previous = now
                }
                t += 3600
            }
        }
    }

    @Test func wallClockWeekdayHourMinute() throws {
        let berlin = try #require(ZoneInfo.named("Europe/Berlin"))
        // 2026-03-29 00:59:59Z is 01:59 CET on a Sunday; a second later it is 03:00 CEST.
        let c = berlin.wallClock(at: Date(timeIntervalSince1970: 1_774_745_999))
        #expect(c.weekday == 6 && c.hour == 1 && c.minute == 59)
        let d = berlin.wallClock(at: Date(timeIntervalSince1970: 1_774_746_000))
        #expect(d.weekday == 6 && d.hour == 3 && d.minute == 0)
        #expect(ZoneInfo.utc.wallClock(at: Date(timeIntervalSince1970: 0)) == (3, 0, 0) ? true : false)
    }

    @Test func namesOutsideTheDatabaseAreRefused() {
        #expect(ZoneInfo.named("Mars/Olympus") == nil)
        #expect(ZoneInfo.named("../../etc/passwd") == nil)
        #expect(ZoneInfo.named("/etc/localtime") == nil)
        #expect(ZoneInfo.parse(Array("not a zone".utf8)) == nil)
        #expect(PosixRule("CET-1CEST,M3.5.0,M10.5.0/3") != nil)
        #expect(PosixRule("<+0330>-3:30") != nil)
        #expect(PosixRule("CET-1CEST") == nil, "daylight time without its rules")
        #expect(PosixRule("EST5EDT,M13.2.0,M11.1.0") == nil)
    }

    /// Every file of the database parses (truncated copies of one do not).
    @Test func theWholeDatabaseParses() throws {
        let root = ZoneInfo.directory
        let names = try FileManager.default.subpathsOfDirectory(atPath: root).filter {
            !$0.hasPrefix("posix") && !$0.hasPrefix("right") && !$0.contains(".")
                && ZoneInfo.valid($0)
                && (try? FileManager.default.attributesOfItem(atPath: "\(root)/\($0)")[.type] as? FileAttributeType)
                    == .typeRegular
        }
        var failed: [String] = []
        for name in names {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(root)/\(name)")))
            guard bytes.starts(with: Array("TZif".utf8)) else { continue }
            if ZoneInfo.parse(bytes) == nil { failed.append(name) }
        }
        #expect(names.count > 300)
        #expect(failed.isEmpty, "\(failed.prefix(10))")
        let berlin = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(root)/Europe/Berlin")))
        for cut in [10, 44, 100, berlin.count / 2] { #expect(ZoneInfo.parse(Array(berlin.prefix(cut))) == nil) }
    }
}
