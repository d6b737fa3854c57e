import Glibc

/// Legacy text encodings (GBK, Big5, Shift_JIS, EUC-KR, the Windows code pages) decoded by
/// glibc's iconv, whose tables are the field's: rampart does not carry its own.
public enum Iconv {
    public struct Failure: Error, Sendable, Equatable {
        /// The offset of the first byte that is not a character of the encoding; nil when the
        /// encoding itself is unknown to iconv.
        public var offset: Int?
    }

    /// `bytes` decoded from `encoding` (an iconv name: "GBK", "BIG5", "CP932", …), exactly or not at all.
    public static func decode(_ bytes: [UInt8], from encoding: String) -> Result<String, Failure> {
        guard let cd = iconv_open("UTF-8", encoding), cd != iconv_t(bitPattern: -1) else {
            return .failure(Failure(offset: nil))
        }
        defer { iconv_close(cd) }
        var input = bytes.map { CChar(bitPattern: $0) }
        var output = [CChar](repeating: 0, count: bytes.count * 4 + 16)
        let (left, written) = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                var inPointer = inBuffer.baseAddress, outPointer = outBuffer.baseAddress
                var inLeft = inBuffer.count, outLeft = outBuffer.count
                // The whole input in one call (the output has room for it); then the shift state flushed.
                let converted = iconv(cd, &inPointer, &inLeft, &outPointer, &outLeft)
                if converted != -1 { _ = iconv(cd, nil, nil, &outPointer, &outLeft) }
                return (converted == -1 ? inLeft : 0, outBuffer.count - outLeft)
            }
        }
        guard left == 0 else { return .failure(Failure(offset: bytes.count - left)) }
        return .success(String(decoding: output[0..<written].map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
}
