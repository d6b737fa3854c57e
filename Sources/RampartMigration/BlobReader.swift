import RampartPolicy

/// A bounds-checked little-endian reader over an `ipsecData` blob ([MS-GPIPSEC] §2.2.1: "all
/// fields … MUST appear in little-endian byte order"). Every read past the end is an error that
/// names the field and its offset: an oversized count or length never reads outside the blob.
struct BlobReader {
    let bytes: [UInt8]
    private(set) var offset = 0
    /// Fields the specification says are written as zero and ignored on reading, that hold data.
    private(set) var nonZero: [String] = []

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    mutating func take(_ n: Int, _ field: String) throws(BlobError) -> ArraySlice<UInt8> {
        guard n >= 0, n <= remaining else {
            throw BlobError(offset: offset, message: "\(field) needs \(n) byte(s), \(remaining) left")
        }
        defer { offset += n }
        return bytes[offset..<offset + n]
    }

    mutating func u8(_ field: String) throws(BlobError) -> UInt8 { try take(1, field).first! }

    /// A field that "MUST be written as 0 and MUST be ignored when read": skipped, and noted if it is not zero.
    mutating func zero(_ n: Int, _ field: String) throws(BlobError) {
        if try take(n, field).contains(where: { $0 != 0 }) { nonZero.append(field) }
    }

    mutating func u16(_ field: String) throws(BlobError) -> UInt16 {
        let b = try take(2, field)
        return UInt16(b[b.startIndex]) | UInt16(b[b.startIndex + 1]) << 8
    }

    mutating func u32(_ field: String) throws(BlobError) -> UInt32 {
        try take(4, field).reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func u64(_ field: String) throws(BlobError) -> UInt64 {
        try take(8, field).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// A GUID as Windows stores it: Data1, Data2 and Data3 little-endian, Data4 as bytes.
    mutating func guid(_ field: String) throws(BlobError) -> String {
        let b = Array(try take(16, field))
        func hex(_ bytes: [UInt8]) -> String {
            bytes.map { byte in String(byte, radix: 16, uppercase: true).leftPadded(2) }.joined()
        }
        return "{" + hex(b[0..<4].reversed()) + "-" + hex(b[4..<6].reversed()) + "-" + hex(b[6..<8].reversed()) + "-"
            + hex(Array(b[8..<10])) + "-" + hex(Array(b[10..<16])) + "}"
    }

    /// A 4-byte IPv4 address as real exports store it: network order (a.b.c.d as bytes a b c d).
    mutating func ipv4(_ field: String) throws(BlobError) -> UInt32 {
        try take(4, field).reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// `length` bytes of UTF-16LE text, up to its first NUL.
    mutating func utf16(_ length: Int, _ field: String) throws(BlobError) -> String {
        let b = Array(try take(length, field))
        var units: [UInt16] = []
        for i in stride(from: 0, to: b.count - 1, by: 2) {
            let unit = UInt16(b[i]) | UInt16(b[i + 1]) << 8
            if unit == 0 { break }
            units.append(unit)
        }
        return String(decoding: units, as: UTF16.self)
    }

    /// A u32 length, then that many bytes of UTF-16LE text (bounded by `limit`).
    mutating func lengthPrefixedText(_ field: String, limit: Int = 1 << 16) throws(BlobError) -> String {
        let length = Int(try u32("\(field) length"))
        guard length <= limit else {
            throw BlobError(offset: offset - 4, message: "\(field) length \(length) is over \(limit) bytes")
        }
        return try utf16(length, field)
    }
}

/// A blob that does not hold what its class's layout says, at `offset`.
public struct BlobError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var message: String
    public var description: String { "at byte \(offset): \(message)" }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
