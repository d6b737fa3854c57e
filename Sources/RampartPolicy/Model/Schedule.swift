import FoundationEssentials

/// When a rule is active (a rampart extension): `add schedule name=Office days=mon-fri
/// hours=08:00-18:00 [timezone=Europe/Berlin]`, `add rule … schedule=Office`. The window is read
/// off the wall clock of its time zone at every instant, so it stays exact in local time across
/// daylight-saving changes: rampartd re-applies at each change of any schedule in use, rather
/// than loading nftables' `meta hour`, which is converted to UTC once and drifts an hour at a
/// DST change (docs/extensions.md).
public struct Schedule: Hashable, Sendable, Codable {
    public var name: String
    public var description: String
    /// Bit 0 Monday … bit 6 Sunday: the days a window starts on.
    public var days: UInt8
    /// Minutes after local midnight, 0…1439; `end` 1…1440. An `end` not after `start` ends on the
    /// next day (`22:00-06:00`).
    public var start: Int
    public var end: Int
    /// An IANA zone (`Europe/Berlin`); nil is the host's own (`/etc/localtime`).
    public var timezone: String?
    public var seq: Int

    public init(
        name: String, description: String = "", days: UInt8, start: Int, end: Int, timezone: String? = nil, seq: Int
    ) {
        self.name = name
        self.description = description
        self.days = days
        self.start = start
        self.end = end
        self.timezone = timezone
        self.seq = seq
    }

    static let dayNames = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    public static func validName(_ name: String) -> Bool { AddressGroup.validName(name) }

    /// `mon-fri`, `sat,sun`, `mon,wed-fri`, `daily` (or `all`).
    public static func parseDays(_ text: String) -> Result<UInt8, ValueError> {
        let lower = text.lowercased()
        if lower == "daily" || lower == "all" { return .success(0x7f) }
        var bits: UInt8 = 0
        for item in lower.split(separator: ",", omittingEmptySubsequences: false) {
            let ends = item.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard let a = dayNames.firstIndex(of: ends[0]),
                let b = ends.count == 2 ? dayNames.firstIndex(of: ends[1]) : a
            else {
                return .failure(
                    ValueError(
                        "'\(item)' in days '\(text)' is not a day (mon, tue, wed, thu, fri, sat, sun) or a range of them (mon-fri)"
                    ))
            }
            // A range may wrap the week: fri-mon is fri, sat, sun, mon.
            var d = a
            while true {
                bits |= 1 << UInt8(d)
                if d == b { break }
                d = (d + 1) % 7
            }
        }
        return .success(bits)
    }

    /// `08:00-18:00`, `22:00-06:00` (over midnight), `00:00-24:00` (the whole day).
    public static func parseHours(_ text: String) -> Result<(Int, Int), ValueError> {
        func minutes(_ s: Substring, allow24: Bool) -> Int? {
            let p = s.split(separator: ":", omittingEmptySubsequences: false)
            guard p.count == 2, p[1].count == 2, (1...2).contains(p[0].count), let h = Int(p[0]), let m = Int(p[1]),
                (0...59).contains(m)
            else { return nil }
            if h == 24 && m == 0 && allow24 { return 1440 }
            guard (0...23).contains(h) else { return nil }
            return h * 60 + m
        }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = minutes(parts[0], allow24: false), let b = minutes(parts[1], allow24: true)
        else {
            return .failure(ValueError("'\(text)' is not HH:MM-HH:MM (08:00-18:00; 22:00-06:00 runs over midnight)"))
        }
        guard a != b else { return .failure(ValueError("'\(text)' is an empty window; 00:00-24:00 is the whole day")) }
        return .success((a, b))
    }

    public static func parseTimeZone(_ text: String) -> Result<String, ValueError> {
        guard ZoneInfo.named(text) != nil, text.contains("/") || text == "UTC" else {
            return .failure(
                ValueError("'\(text)' is not a time zone of the tz database (Europe/Berlin, America/New_York, UTC)"))
        }
        return .success(text)
    }

    public var daysText: String {
        if days == 0x7f { return "daily" }
        return (0..<7).filter { days & (1 << UInt8($0)) != 0 }.map { Schedule.dayNames[$0] }.joined(separator: ",")
    }

    public var hoursText: String {
        func hm(_ m: Int) -> String { (m / 60 < 10 ? "0" : "") + "\(m / 60):" + (m % 60 < 10 ? "0" : "") + "\(m % 60)" }
        return "\(hm(start))-\(hm(end))"
    }

    /// The schedule's zone from the system's tz database (ZoneInfo); the host's own for none, and
    /// UTC if a zone checked when it was written has gone from the database since.
    public var zone: ZoneInfo { ZoneInfo.named(timezone) ?? ZoneInfo.named(nil) ?? .utc }

    /// True when the wall clock of the schedule's zone at `instant` is inside a window: on a
    /// listed day from `start` to `end`, or (over midnight) after `start` on a listed day or
    /// before `end` on the day after one. Wall-clock times a DST change skips never occur (a
    /// window starting at 02:30 on that night starts at 03:00); times it repeats count twice.
    public func isActive(at instant: Date) -> Bool {
        let c = zone.wallClock(at: instant)
        let day = c.weekday
        let minute = c.hour * 60 + c.minute
        func listed(_ d: Int) -> Bool { days & (1 << UInt8((d + 7) % 7)) != 0 }
        if start < end { return listed(day) && minute >= start && minute < end }
        return (listed(day) && minute >= start) || (listed(day - 1) && minute < end)
    }

    /// The first whole minute after `instant` at which `isActive` changes, within 8 days; nil
    /// when it never does (a daily 00:00-24:00). It jumps from one wall-clock boundary (a start,
    /// an end, midnight) to the next rather than minute by minute; when a jump lands past a change
    /// (a DST shift moved the wall clock), a binary search finds the minute it happened.
    public func nextChange(after instant: Date) -> Date? {
        let now = isActive(at: instant)
        let zone = self.zone
        var last = (instant.timeIntervalSince1970 / 60).rounded(.down)  // minutes since the epoch
        var t = last + 1
        let limit = last + 8 * 24 * 60
        while t <= limit {
            if isActive(at: Date(timeIntervalSince1970: t * 60)) != now {
                // The first differing minute in (last, t]: the state is `now` at `last`.
                var low = last, high = t
                while high - low > 1 {
                    let mid = ((low + high) / 2).rounded(.down)
                    if isActive(at: Date(timeIntervalSince1970: mid * 60)) != now { high = mid } else { low = mid }
                }
                return Date(timeIntervalSince1970: high * 60)
            }
            let c = zone.wallClock(at: Date(timeIntervalSince1970: t * 60))
            let m = c.hour * 60 + c.minute
            let steps = [start, end % 1440, 0].map { ($0 - m + 1440) % 1440 }.filter { $0 > 0 }
            last = t
            // Never more than an hour at once: a DST change can move the wall clock by up to that.
            t += Double(min(steps.min() ?? 60, 60))
        }
        return nil
    }

    public var summary: String { "\(daysText) \(hoursText) \(timezone ?? "local time")" }
}
