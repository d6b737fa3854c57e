import Foundation
import Testing

/// Scripts as Chinese and Japanese Windows write them (GBK, Big5, code page 932, CRLF): decoded
/// exactly with --encoding, and without it refused with the encoding their bytes read as.
@Suite struct EncodingTests {
    static let fixtures = CLI.repository.appendingPathComponent("Tests/RampartCLITests/Golden/encodings")

    @Test(arguments: [
        ("gbk", "gbk", "Chinese (GBK) text: try --encoding gb18030"),
        ("gbk", "gb18030", "Chinese (GBK) text: try --encoding gb18030"),
        ("big5", "big5", "Chinese (Big5) text: try --encoding big5"),
        ("shift_jis", "shift_jis", "Japanese (Shift_JIS) text: try --encoding shift_jis")
    ])
    func aLegacyScriptDecodesExactlyOrIsRefusedWithItsEncoding(fixture: String, encoding: String, hint: String) throws {
        let bat = Self.fixtures.appendingPathComponent("\(fixture).bat").path
        let cli = try CLI()
        defer { cli.cleanup() }
        let refused = try cli.run(["import", bat])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("error: invalid UTF-8 (byte 0x"), "\(refused.stderr)")
        #expect(refused.stderr.contains("; its bytes read as \(hint)\n"), "\(refused.stderr)")
        #expect(cli.storeBytes() == nil, "nothing was written")

        let imported = try cli.run(["import", "--encoding", encoding, bat])
        #expect(imported.status == 0, "\(imported.stderr)")
        // The same store as the script's UTF-8 original gives: every name and description exact.
        let reference = try CLI()
        defer { reference.cleanup() }
        let original = Self.fixtures.appendingPathComponent("\(fixture).utf8").path
        #expect(try reference.run(["import", original]).status == 0)
        let dump = try cli.run(["dump"]).stdout
        #expect(dump == (try reference.run(["dump"]).stdout))
        #expect(dump.unicodeScalars.contains { $0.value >= 0x3040 }, "the names are in their own script: \(dump)")
    }

    @Test func aByteOutsideTheEncodingIsNamedWithItsPlace() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let bat = Self.fixtures.appendingPathComponent("big5.bat").path
        let wrong = try cli.run(["import", "--encoding", "shift_jis", bat])
        #expect(wrong.status == 1)
        #expect(
            wrong.stderr.contains("is not a character in shift_jis: is the file in another encoding?"),
            "\(wrong.stderr)")
        #expect(wrong.stderr.hasPrefix(bat + ":2:"), "the line of the byte: \(wrong.stderr)")
    }
}
