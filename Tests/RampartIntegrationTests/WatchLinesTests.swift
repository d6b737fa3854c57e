import Testing
@testable import RampartFleet

/// The watch stream's messages are cut in one pass, and an oversized one is refused as soon as
/// it passes the limit, not after it has all arrived and been decoded (issue 29, item 11).
@Suite struct WatchLinesTests {
    @Test func messagesSplitAcrossChunksComeOutWhole() throws {
        var lines = WatchLines(maximum: 1000)
        var out: [[UInt8]] = []
        for chunk in ["{\"a\":", "1}\n{\"b\"", ":2}\n\n{\"c\":3}"] { out += try lines.add(Array(chunk.utf8)) }
        #expect(out.map { String(decoding: $0, as: UTF8.self) } == ["{\"a\":1}", "{\"b\":2}", ""])
        #expect(lines.rest.map { String(decoding: $0, as: UTF8.self) } == "{\"c\":3}")
    }

    @Test func anOversizedMessageIsRefusedAsSoonAsItPassesTheLimit() {
        var lines = WatchLines(maximum: EtcdClient.maximumWatchMessageBytes)
        let chunk = [UInt8](repeating: 0x41, count: 16 * 1024)
        var fed = 0
        do {
            // A 30 MB message (an etcd whose request limit was raised), in 16 KiB chunks.
            while fed < 30_000_000 {
                _ = try lines.add(chunk)
                fed += chunk.count
            }
            Issue.record("30 MB without a newline were accepted")
        } catch {
            #expect(fed <= EtcdClient.maximumWatchMessageBytes, "refused after \(fed) bytes")
            #expect("\(error)".contains("refused unread"))
        }
    }
}
