import Testing
@testable import RampartIPsec
import RampartVici

@Suite struct ViciWireTests {
    /// The encoding example of the VICI README, byte for byte.
    @Test func theReadmeExampleEncodesAsDocumented() throws {
        let m = ViciMessage([
            ("key1", "value1"),
            (
                "section1",
                .section(
                    ViciMessage([
                        ("sub-section", .section(ViciMessage([("key2", "value2")]))),
                        ("list1", .strings(["item1", "item2"]))
                    ]))
            )
        ])
        let expected: [UInt8] =
            [3, 4] + Array("key1".utf8) + [0, 6] + Array("value1".utf8)
            + [1, 8] + Array("section1".utf8)
            + [1, 11] + Array("sub-section".utf8) + [3, 4] + Array("key2".utf8) + [0, 6] + Array("value2".utf8) + [2]
            + [4, 5] + Array("list1".utf8) + [5, 0, 5] + Array("item1".utf8) + [5, 0, 5] + Array("item2".utf8) + [6]
            + [2]
        #expect(try m.encoded() == expected)
        let back = try ViciMessage(decoding: expected[...])
        #expect(back == m)
        #expect(back.section("section1")?.list("list1") == ["item1", "item2"])
        #expect(back.section("section1")?.section("sub-section")?.string("key2") == "value2")
    }

    @Test func packetsFrameAndSplitAcrossReads() throws {
        let packets: [ViciPacket] = [
            .request("version", ViciMessage()), .response(ViciMessage([("daemon", "charon")])), .unknownCommand,
            .eventRegister("ike-updown"), .eventConfirm, .event("log", ViciMessage([("msg", "hello")])), .eventUnknown
        ]
        let stream = try packets.flatMap { try $0.framed() }
        // Fed one byte at a time, the framer yields each packet once, in order.
        var framer = ViciFramer()
        var got: [ViciPacket] = []
        for b in stream { got += try framer.feed([b]) }
        #expect(got == packets)
        #expect(
            Array(try ViciPacket.request("version", ViciMessage()).framed()) == [0, 0, 0, 9, 0, 7]
                + Array("version".utf8))
    }

    @Test(arguments: [
        ([2] as [UInt8], "section end without a section"),
        ([1, 1, 65], "1 section(s) not closed"),
        ([5, 0, 0], "list element outside a list"),
        ([4, 1, 65, 3, 1, 66, 0, 0, 6], "only list items may appear in list 'A'"),
        ([3, 1, 65, 0, 9, 1], "truncated value"),
        ([3, 1, 65, 0, 0, 3, 1, 65, 0, 0], "key 'A' repeated in a section"),
        ([9], "unknown element type 9")
    ])
    func malformedMessagesAreRefused(bytes: [UInt8], why: String) {
        do {
            _ = try ViciMessage(decoding: bytes[...])
            Issue.record("accepted \(bytes)")
        } catch {
            #expect(error.description.contains(why), "\(error)")
        }
    }

    @Test func limitsAreEnforced() {
        #expect(throws: ViciMessage.Malformed.self) {
            _ = try ViciMessage([(String(repeating: "k", count: 256), "v")]).encoded()
        }
        #expect(throws: ViciMessage.Malformed.self) {
            _ = try ViciMessage([("k", .value(Array(repeating: 0, count: 65_536)))]).encoded()
        }
        var framer = ViciFramer()
        #expect(throws: ViciMessage.Malformed.self) { _ = try framer.feed([0x00, 0x08, 0x00, 0x01]) }
    }
}
