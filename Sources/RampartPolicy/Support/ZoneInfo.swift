import FoundationEssentials
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A time zone read from the system's tz database (RFC 8536 TZif files under /usr/share/zoneinfo,
/// `/etc/localtime` for the host's own): its UTC offsets at every transition, and the POSIX TZ
/// rule of its footer for the instants after the last one. What schedules need — the wall clock
/// of a zone at an instant — without ICU, whose data is most of a statically linked binary.
public struct ZoneInfo: Sendable, Equatable {
    /// Transition instants (seconds since the epoch), ascending, and the UTC offset from each on.
    var transitions: [Int64] = []
    var offsets: [Int32] = []
    /// The offset before the first transition (the first local time type, RFC 8536 §3.2).
    var initial: Int32 = 0
    /// The footer's rule, for instants after the last transition.
    var rule: PosixRule?

    public static let utc = ZoneInfo()

    /// The wall clock at `instant`: weekday (0 Monday … 6 Sunday), hour and minute.
    public func wallClock(at instant: Date) -> (weekday: Int, hour: Int, minute: Int) {
        let t = Int64((instant.timeIntervalSince1970).rounded(.down))
        let local = t + Int64(offset(at: t))
        let days = local.floorDiv(86_400)
        let seconds = local - days * 86_400
        // 1970-01-01 was a Thursday (3 counting from Monday).
        let weekday = Int(((days % 7) + 7 + 3) % 7)
        return (weekday, Int(seconds / 3600), Int(seconds % 3600 / 60))
    }

    /// Seconds east of UTC at `t`.
    public func offset(at t: Int64) -> Int32 {
        if let last = transitions.last, t >= last, let rule { return rule.offset(at: t) }
        guard let first = transitions.first, t >= first else {
            return transitions.isEmpty ? (rule?.offset(at: t) ?? initial) : initial
        }
        // The last transition at or before t.
        var low = 0, high = transitions.count
        while high - low > 1 {
            let mid = (low + high) / 2
            if transitions[mid] <= t { low = mid } else { high = mid }
        }
        return offsets[low]
    }

    // MARK: the database

    private static let cache = Mutex<[String: ZoneInfo]>([:])
    static let directory = "/usr/share/zoneinfo"

    /// The zone `identifier` (`Europe/Berlin`, `UTC`); nil for the host's own (`/etc/localtime`,
    /// UTC when there is none). nil when the database has no such zone.
    public static func named(_ identifier: String?) -> ZoneInfo? {
        let key = identifier ?? ""
        if let known = cache.withLock({ $0[key] }) { return known }
        let zone: ZoneInfo?
        if let identifier {
            guard valid(identifier) else { return nil }
            zone = read("\(directory)/\(identifier)")
        } else {
            zone = read("/etc/localtime") ?? .utc
        }
        if let zone { cache.withLock { $0[key] = zone } }
        return zone
    }

    /// Letters, digits, `/`, `_`, `-`, `+`; no `..` and no leading `/`: a name in the database.
    static func valid(_ identifier: String) -> Bool {
        !identifier.isEmpty && identifier.count < 128 && !identifier.hasPrefix("/") && !identifier.contains("..")
            && identifier.utf8.allSatisfy {
                ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a)
                    || $0 == 0x2f || $0 == 0x5f || $0 == 0x2d || $0 == 0x2b
            }
    }

    static func read(_ path: String) -> ZoneInfo? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while bytes.count < 1 << 20 {
            let n = Glibc.read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            bytes += buffer[0..<n]
        }
        return parse(bytes)
    }

    /// A TZif file: the version 2+ (64-bit) data block and footer; a version 1 file's 32-bit block.
    public static func parse(_ bytes: [UInt8]) -> ZoneInfo? {
        guard let first = Header(bytes, at: 0) else { return nil }
        guard first.version >= 0x32 else { return block(bytes, first, at: 44, timeSize: 4) }
        let second = 44 + first.length(timeSize: 4)
        guard let header = Header(bytes, at: second), var zone = block(bytes, header, at: second + 44, timeSize: 8)
        else { return nil }
        // The footer: "\nTZ\n".
        let footer = second + 44 + header.length(timeSize: 8)
        if footer < bytes.count, bytes[footer] == 0x0a, let end = bytes[(footer + 1)...].firstIndex(of: 0x0a) {
            let text = String(decoding: bytes[(footer + 1)..<end], as: UTF8.self)
            if !text.isEmpty {
                guard let rule = PosixRule(text) else { return nil }
                zone.rule = rule
            }
        }
        return zone
    }

    struct Header {
        var version: UInt8
        var isutcnt: Int, isstdcnt: Int, leapcnt: Int, timecnt: Int, typecnt: Int, charcnt: Int

        init?(_ b: [UInt8], at i: Int) {
            guard i + 44 <= b.count, b[i] == 0x54, b[i + 1] == 0x5a, b[i + 2] == 0x69, b[i + 3] == 0x66 else {
                return nil
            }
            func count(_ k: Int) -> Int { Int(ZoneInfo.be(b, i + 20 + 4 * k, 4)) }
            version = b[i + 4]
            (isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt) = (
                count(0), count(1), count(2), count(3), count(4), count(5)
            )
            guard typecnt > 0, timecnt < 100_000, charcnt < 100_000, leapcnt < 10_000 else { return nil }
        }

        func length(timeSize: Int) -> Int {
            timecnt * timeSize + timecnt + typecnt * 6 + charcnt + leapcnt * (timeSize + 4) + isstdcnt + isutcnt
        }
    }

    static func be(_ b: [UInt8], _ i: Int, _ n: Int) -> UInt64 {
        var v: UInt64 = 0
        for k in 0..<n { v = v << 8 | UInt64(b[i + k]) }
        return v
    }

    private static func block(_ b: [UInt8], _ h: Header, at start: Int, timeSize: Int) -> ZoneInfo? {
        guard start + h.length(timeSize: timeSize) <= b.count else { return nil }
        let indices = start + h.timecnt * timeSize
        let types = indices + h.timecnt
        func utoff(_ type: Int) -> Int32 { Int32(bitPattern: UInt32(be(b, types + 6 * type, 4))) }
        var zone = ZoneInfo()
        for k in 0..<h.timecnt {
            let raw = be(b, start + k * timeSize, timeSize)
            let t = timeSize == 8 ? Int64(bitPattern: raw) : Int64(Int32(bitPattern: UInt32(raw)))
            let type = Int(b[indices + k])
            guard type < h.typecnt else { return nil }
            zone.transitions.append(t)
            zone.offsets.append(utoff(type))
        }
        zone.initial = utoff(0)
        return zone
    }
}

/// A POSIX TZ rule as a TZif footer holds it (`CET-1CEST,M3.5.0,M10.5.0/3`, `<+0330>-3:30`,
/// `EST5EDT,M3.2.0,M11.1.0`): standard offset, and daylight time between two yearly rules.
struct PosixRule: Sendable, Equatable {
    /// Seconds east of UTC.
    var standard: Int32
    var daylight: Int32?
    var start = Day.julian(0, zeroBased: true), startTime: Int32 = 7200
    var end = Day.julian(0, zeroBased: true), endTime: Int32 = 7200

    enum Day: Sendable, Equatable {
        /// `Mm.w.d`: day d (0 Sunday) of week w (5: the last) of month m.
        case month(Int, Int, Int)
        /// `Jn` (1…365, February 29 never counted) or `n` (0…365, zero-based, counting it).
        case julian(Int, zeroBased: Bool)
    }

    init?(_ text: String) {
        var s = Substring(text)
        guard Self.name(&s), let std = Self.time(&s) else { return nil }
        standard = -std
        if s.isEmpty { return }
        guard Self.name(&s) else { return nil }
        let dst = s.first == "," ? std - 3600 : Self.time(&s)
        guard let dst else { return nil }
        daylight = -dst
        // A footer with daylight time names its rules.
        guard s.first == "," else { return nil }
        s.removeFirst()
        guard let a = Self.day(&s) else { return nil }
        start = a
        if s.first == "/" {
            s.removeFirst()
            guard let t = Self.time(&s) else { return nil }
            startTime = t
        }
        guard s.first == "," else { return nil }
        s.removeFirst()
        guard let b = Self.day(&s) else { return nil }
        end = b
        if s.first == "/" {
            s.removeFirst()
            guard let t = Self.time(&s) else { return nil }
            endTime = t
        }
        guard s.isEmpty else { return nil }
    }

    /// `CET` or `<+0330>`.
    static func name(_ s: inout Substring) -> Bool {
        if s.first == "<" {
            guard let close = s.firstIndex(of: ">") else { return false }
            s = s[s.index(after: close)...]
            return true
        }
        let letters = s.prefix { $0.isLetter }
        guard letters.count >= 3 else { return false }
        s = s.dropFirst(letters.count)
        return true
    }

    /// `[+-]hh[:mm[:ss]]`, seconds (west of UTC positive, as POSIX writes offsets).
    static func time(_ s: inout Substring) -> Int32? {
        var sign: Int32 = 1
        if s.first == "+" || s.first == "-" {
            if s.first == "-" { sign = -1 }
            s.removeFirst()
        }
        var parts: [Int32] = []
        while parts.count < 3 {
            let digits = s.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, digits.count <= 3, let v = Int32(digits) else { return nil }
            parts.append(v)
            s = s.dropFirst(digits.count)
            guard s.first == ":" else { break }
            s.removeFirst()
        }
        guard parts[0] <= 167, parts.count < 2 || parts[1] < 60, parts.count < 3 || parts[2] < 60 else { return nil }
        return sign * (parts[0] * 3600 + (parts.count > 1 ? parts[1] * 60 : 0) + (parts.count > 2 ? parts[2] : 0))
    }

    static func day(_ s: inout Substring) -> Day? {
        func number() -> Int? {
            let digits = s.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, digits.count <= 3 else { return nil }
            s = s.dropFirst(digits.count)
            return Int(digits)
        }
        switch s.first {
        case "M":
            s.removeFirst()
            guard let m = number(), s.first == "." else { return nil }
            s.removeFirst()
            guard let w = number(), s.first == "." else { return nil }
            s.removeFirst()
            guard let d = number(), (1...12).contains(m), (1...5).contains(w), (0...6).contains(d) else { return nil }
            return .month(m, w, d)
        case "J":
            s.removeFirst()
            guard let n = number(), (1...365).contains(n) else { return nil }
            return .julian(n, zeroBased: false)
        default:
            guard let n = number(), (0...365).contains(n) else { return nil }
            return .julian(n, zeroBased: true)
        }
    }

    /// Seconds east of UTC at `t`.
    func offset(at t: Int64) -> Int32 {
        guard let daylight else { return standard }
        let year = Civil.year(ofDay: (t + Int64(standard)).floorDiv(86_400))
        // Daylight time starts at startTime of standard time and ends at endTime of daylight time.
        for y in [year - 1, year, year + 1] {
            let on = Civil.seconds(of: start, year: y) + Int64(startTime) - Int64(standard)
            let off = Civil.seconds(of: end, year: y) + Int64(endTime) - Int64(daylight)
            if on < off {
                if t >= on && t < off { return daylight }
            } else if y == year {
                // The southern hemisphere: daylight time over the new year.
                if t < off || t >= on { return daylight }
            }
        }
        return standard
    }
}

/// The proleptic Gregorian calendar, as days since 1970-01-01 (H. Hinnant's civil algorithms).
enum Civil {
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = y.floorDiv(400)
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func year(ofDay z: Int64) -> Int64 {
        let z = z + 719_468
        let era = z.floorDiv(146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        return yoe + era * 400 + (mp >= 10 ? 1 : 0)
    }

    static func isLeap(_ y: Int64) -> Bool { y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) }

    /// Local midnight of a rule's day in `year`, as seconds since the epoch of that local time.
    static func seconds(of day: PosixRule.Day, year: Int64) -> Int64 {
        switch day {
        case .julian(let n, let zeroBased):
            // Jn never counts February 29: from March on, a leap year's day number is one more.
            let index = zeroBased ? Int64(n) : Int64(n - 1) + (isLeap(year) && n >= 60 ? 1 : 0)
            return (days(year: year, month: 1, day: 1) + index) * 86_400
        case .month(let m, let w, let d):
            let first = days(year: year, month: Int64(m), day: 1)
            // 1970-01-01 was a Thursday (4 counting from Sunday).
            let weekday = ((first + 4) % 7 + 7) % 7
            var day = first + (Int64(d) - weekday + 7) % 7 + Int64(w - 1) * 7
            let next = m == 12 ? days(year: year + 1, month: 1, day: 1) : days(year: year, month: Int64(m + 1), day: 1)
            while day >= next { day -= 7 }
            return day * 86_400
        }
    }
}

extension Int64 {
    func floorDiv(_ d: Int64) -> Int64 { self >= 0 ? self / d : -((-self + d - 1) / d) }
}
