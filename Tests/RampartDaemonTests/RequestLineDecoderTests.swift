import NIOCore
import NIOEmbedded
@testable import RampartDaemon
import Testing

/// The control socket's line splitting, read by read (found under AddressSanitizer: it searched the
/// whole pending request again on every read, so an 8 MB script missed the request deadline).
@Suite struct RequestLineDecoderTests {
    func lines(_ input: [UInt8], reads: [Int], maxBytes: Int = 1 << 20) throws -> [String] {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RequestLineDecoder(maxBytes: maxBytes)))
        // Finished however the reads end: an unfinished channel and its pipeline keep each other alive.
        defer { _ = try? channel.finish() }
        var offset = 0
        for size in reads + [input.count] where offset < input.count {
            let end = min(input.count, offset + size)
            try channel.writeInbound(channel.allocator.buffer(bytes: input[offset..<end]))
            offset = end
        }
        var out: [String] = []
        while let line = try channel.readInbound(as: ByteBuffer.self) { out.append(String(buffer: line)) }
        return out
    }

    @Test(arguments: [
        [1, 7, 65_536, 65_536, 100_000], [200_000], [200_001], [200_002, 3], [3, 3, 3, 3, 3, 3, 3, 3, 3, 3]
    ])
    func everyLineWhateverTheReads(reads: [Int]) throws {
        let long = String(repeating: "x", count: 200_000)
        let input = Array("\(long)\nshort\n\nthird\n".utf8)
        #expect(try lines(input, reads: reads) == [long, "short", "", "third"])
    }

    @Test func aLineOverTheLimitIsRefusedWhereverItsNewlineFalls() throws {
        let input = Array((String(repeating: "y", count: 5_000) + "\n").utf8)
        #expect(throws: RequestLineDecoder.TooLong.self) { try lines(input, reads: [4_000, 2_000], maxBytes: 4_096) }
        #expect(throws: RequestLineDecoder.TooLong.self) { try lines(input, reads: [5_001], maxBytes: 4_096) }
        #expect(try lines(input, reads: [100, 4_000], maxBytes: 5_000).map(\.count) == [5_000])
    }
}
