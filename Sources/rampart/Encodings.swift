import RampartPolicy
import RampartSystem

/// glibc's iconv, for the encodings ScriptText does not decode itself.
let iconvDecoder: ScriptText.LegacyDecoder = { bytes, name in
    Iconv.decode(bytes, from: name).mapError { ScriptText.LegacyFailure(offset: $0.offset) }
}

/// For a file that is not UTF-8: the encodings its bytes read best as — where the largest share
/// of the non-ASCII characters they give belongs to the scripts that encoding is for (at least
/// 90%). The double-byte encodings come first (a whole file decoding to ideographs is a strong
/// sign; Japanese has kana, which the others lack); a tie names them all rather than guess; and
/// never latin1, which decodes anything.
func likelyEncodings(_ bytes: [UInt8]) -> String {
    let cjk: [ClosedRange<UInt32>] = [0x4E00...0x9FFF, 0x3000...0x303F, 0xFF01...0xFF5E]
    let doubleByte: [(ScriptText.Encoding, String, [ClosedRange<UInt32>])] = [
        (.gb18030, "Chinese (GBK)", cjk), (.big5, "Chinese (Big5)", cjk),
        (.shiftJIS, "Japanese (Shift_JIS)", cjk + [0x3040...0x30FF]),
        (.eucKR, "Korean (EUC-KR)", cjk + [0xAC00...0xD7AF])
    ]
    let singleByte: [(ScriptText.Encoding, String, [ClosedRange<UInt32>])] = [
        (.cp1251, "Cyrillic (Windows-1251)", [0x0400...0x04FF, 0x2013...0x2026]),
        (.cp1250, "Central European (Windows-1250)", [0x00C0...0x017E, 0x2013...0x2026])
    ]
    for group in [doubleByte, singleByte] {
        var scored: [(label: String, name: String, score: Double)] = []
        for (encoding, label, ranges) in group {
            guard let name = encoding.iconvName, case .success(let text) = Iconv.decode(bytes, from: name) else {
                continue
            }
            let foreign = text.unicodeScalars.filter { $0.value > 0x7F }
            guard !foreign.isEmpty else { continue }
            var score =
                Double(foreign.filter { s in ranges.contains { $0.contains(s.value) } }.count) / Double(foreign.count)
            // Kana: Japanese, whatever else the bytes also decode as.
            if encoding == .shiftJIS,
                foreign.filter({ (0x3040...0x30FF).contains($0.value) }).count * 10 >= foreign.count
            {
                score += 1
            }
            if score >= 0.9 { scored.append((label, encoding.rawValue, score)) }
        }
        guard let best = scored.map(\.score).max() else { continue }
        let fits = scored.filter { $0.score >= best - 0.0001 }
        func list(_ words: [String]) -> String {
            words.count == 1 ? words[0] : words.dropLast().joined(separator: ", ") + " or " + words.last!
        }
        return "; its bytes read as \(list(fits.map(\.label))) text: try --encoding \(list(fits.map(\.name)))"
    }
    return ""
}
