extension StringProtocol {
    /// Without the leading and trailing characters that are in `set` (the pure modules do not
    /// import Foundation's `trimmingCharacters`).
    public func trimming(_ set: String = " \t") -> Substring {
        var s = self[...]
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return Substring(s)
    }
}
