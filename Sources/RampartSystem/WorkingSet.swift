import Glibc

/// After startup, rampartd hands the code pages it touched only while starting (argument parsing,
/// the store decoder, the boot ruleset, binding) back to the kernel: `MADV_PAGEOUT` on its own
/// executable's code. They are clean file pages; whatever a later request needs faults back in
/// from the page cache or the disk. Nothing anonymous is touched.
public enum WorkingSet {
    /// Returns the bytes advised (0 when the kernel does not support MADV_PAGEOUT, before 5.4).
    @discardableResult
    public static func releaseExecutableCode() -> Int {
        guard let exe = Path.symlinkTarget("/proc/self/exe"),
            let maps = try? String(decoding: SourceFile.read("/proc/self/maps", limit: 4 << 20).get(), as: UTF8.self)
        else { return 0 }
        var released = 0
        for line in maps.split(separator: "\n") {
            // 55d1c2a00000-55d1c3600000 r-xp 00200000 08:01 1234  /usr/sbin/rampartd
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1].hasPrefix("r-x"), fields[5...].joined(separator: " ") == exe else {
                continue
            }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16),
                end > start
            else { continue }
            if madvise(UnsafeMutableRawPointer(bitPattern: start), Int(end - start), 21 /* MADV_PAGEOUT */) == 0 {
                released += Int(end - start)
            }
        }
        return released
    }
}
