import CNetfilter
import Testing
@testable import RampartNetlink
import RampartNetlinkFake
import RampartPolicy
import RampartTestKit

/// The one netlink walker: messages, attributes (nested too), error replies, and the two parsers
/// built on it (nftables notifications, default routes). Built bytes round-trip; every truncation
/// and every corrupted length of a real message is walked without a crash or a read past the end.
@Suite struct WireTests {
    static let nfgen: [UInt8] = [UInt8(NFPROTO_INET), 0, 0, 0]

    @Test func messagesAndAttributesRoundTrip() {
        let nested = Wire.attribute(
            4, nested: true, Wire.attribute(1, [1, 2, 3]) + Wire.attribute(2, Wire.le32(0xdeadbeef)))
        let datagram =
            Wire.message(
                type: 0x0a06, flags: 0x5, sequence: 42, portID: 9,
                Self.nfgen + Wire.attribute(1, Array("t\0".utf8)) + nested)
            + Wire.message(type: 3, flags: 2, sequence: 43, [0, 0, 0, 0])
        let messages = Array(NetlinkMessages(bytes: datagram))
        #expect(messages.count == 2)
        #expect(
            messages[0].type == 0x0a06 && messages[0].flags == 5 && messages[0].sequence == 42
                && messages[0].portID == 9)
        let attributes = Array(messages[0].attributes(after: 4))
        #expect(attributes.map(\.type) == [1, 4])
        #expect(attributes[0].string == "t")
        #expect(attributes[1].nested)
        let children = Array(attributes[1].children)
        #expect(children.map(\.type) == [1, 2])
        #expect(Array(children[0].value) == [1, 2, 3])
        #expect(children[1].u32 == 0xdeadbeef)
        #expect(messages[1].type == 3 && messages[1].sequence == 43)
    }

    @Test func pathNamesTheNestedAttributeAnOffsetPointsAt() {
        let payload =
            Self.nfgen + Wire.attribute(1, [0x61, 0])
            + Wire.attribute(4, nested: true, Wire.attribute(1, [9, 9, 9, 9]) + Wire.attribute(1, [8, 8, 8, 8]))
        let message = Wire.message(type: 1, flags: 0, sequence: 1, payload)
        let walk = NetlinkAttributes(message[20...])
        // The second element of attribute 4: header of 4 at 28, its children at 32 and 40.
        #expect(walk.path(to: 44).map(\.type) == [4, 1])
        #expect(walk.path(to: 44).map(\.index) == [1, 1])
        #expect(walk.path(to: 21).map(\.type) == [1])
        #expect(walk.path(to: 1000).isEmpty)
    }

    /// Found by the netlink fuzz target: an errno of INT32_MIN trapped on negation.
    @Test func fuzzCrashErrnoOfInt32MinIsNotATrap() {
        let bytes: [UInt8] = [
            0x28, 0, 0, 0, 2, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x14, 0, 0, 0x2e,
            0x55, 0x49, 0x6e, 0x74, 0, 0x23, 0x0a, 0x05, 0, 0x07, 0xff, 0xff, 0xff, 0, 0, 0
        ]
        let message = NetlinkMessages(bytes: bytes).first { _ in true }
        #expect(message.flatMap(ErrorReply.init)?.error == Int32.min)
    }

    @Test func errorRepliesWithExtendedAck() {
        let original = Wire.message(type: 0x0a06, flags: 5, sequence: 77, [0, 0, 0, 0])
        let ack =
            Wire.le32(UInt32(bitPattern: -22)) + Array(original.prefix(16))
            + Wire.attribute(1, Array("bad expression\0".utf8)) + Wire.attribute(2, Wire.le32(52))
        let reply = Array(
            NetlinkMessages(bytes: Wire.message(type: UInt16(NLMSG_ERROR), flags: 0x300, sequence: 77, ack)))
        let parsed = try! #require(ErrorReply(reply[0]))
        #expect(parsed == ErrorReply(error: 22, offset: 52, text: "bad expression"))
        let plain = Array(
            NetlinkMessages(
                bytes: Wire.message(
                    type: UInt16(NLMSG_ERROR), flags: 0x100, sequence: 1, Wire.le32(0) + Array(original.prefix(16)))))
        #expect(ErrorReply(plain[0]) == ErrorReply(error: 0, offset: nil, text: nil))
    }

    @Test func monitorParserReportsForeignTransactionsOnce() {
        var parser = NftablesMonitor.Parser(table: "rampart")
        let foreign =
            KernelDatagrams.nftables(NFT_MSG_DELRULE, table: "rampart", portID: 500)
            + KernelDatagrams.nftables(NFT_MSG_DELTABLE, table: "rampart", portID: 500)
        let other = KernelDatagrams.nftables(NFT_MSG_NEWRULE, table: "filter", portID: 500)
        let own = KernelDatagrams.nftables(NFT_MSG_NEWTABLE, table: "rampart", portID: 4242)
        #expect(parser.consume(foreign + other + own, own: [4242]).isEmpty, "nothing until the transaction ends")
        let changes = parser.consume(KernelDatagrams.newgen(process: "nft", pid: 1234), own: [4242])
        #expect(
            changes == [
                TableChange(
                    operations: ["delete rule", "delete table"], processName: "nft", processID: 1234, overrun: false)
            ])
        #expect(
            parser.consume(own + KernelDatagrams.newgen(process: "rampartd", pid: 1), own: [4242]).isEmpty,
            "our own changes are not reported")
    }

    static func route(
        family: UInt8, destinationLength: UInt8, table: UInt8 = UInt8(RT_TABLE_MAIN.rawValue), gateway: [UInt8]?,
        multipath: [[UInt8]] = []
    ) -> [UInt8] {
        KernelDatagrams.route(
            family: family, destinationLength: destinationLength, table: table, gateway: gateway, multipath: multipath)
    }

    @Test func defaultRouteGateways() {
        let v4 = Array(
            NetlinkMessages(bytes: Self.route(family: UInt8(AF_INET), destinationLength: 0, gateway: [192, 0, 2, 1])))[
                0]
        #expect(RouteMonitor.defaultRouteGateways(v4.data) == [IPAddress("192.0.2.1")!])
        let notDefault = Array(
            NetlinkMessages(bytes: Self.route(family: UInt8(AF_INET), destinationLength: 24, gateway: [192, 0, 2, 1])))[
                0]
        #expect(RouteMonitor.defaultRouteGateways(notDefault.data).isEmpty)
        let otherTable = Array(
            NetlinkMessages(
                bytes: Self.route(family: UInt8(AF_INET), destinationLength: 0, table: 100, gateway: [192, 0, 2, 1])))[
                0]
        #expect(RouteMonitor.defaultRouteGateways(otherTable.data).isEmpty)
        let v6 = [UInt8](repeating: 0, count: 15) + [1]
        var doc = v6
        doc[0] = 0x20
        doc[1] = 0x01
        doc[2] = 0x0d
        doc[3] = 0xb8
        let multi = Array(
            NetlinkMessages(
                bytes: Self.route(
                    family: UInt8(AF_INET6), destinationLength: 0, gateway: nil,
                    multipath: [doc, [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [2]])))[0]
        #expect(RouteMonitor.defaultRouteGateways(multi.data) == [IPAddress("2001:db8::1")!, IPAddress("2001:db8::2")!])
    }

    /// Every prefix of a real datagram, and every single-byte corruption of it, is walked to the
    /// end without trapping; lengths that do not fit end the walk.
    @Test func truncatedAndCorruptedInputNeverTraps() {
        let datagram =
            KernelDatagrams.nftables(
                NFT_MSG_NEWRULE, table: "rampart", portID: 5,
                extra: Wire.attribute(
                    4, nested: true, Wire.attribute(1, nested: true, Wire.attribute(1, Array("meta\0".utf8)))))
            + KernelDatagrams.newgen(process: "nft", pid: 1)
            + Self.route(
                family: UInt8(AF_INET6), destinationLength: 0, gateway: nil,
                multipath: [[UInt8](repeating: 1, count: 16)])
        func walk(_ bytes: [UInt8]) -> Int {
            var count = 0
            var parser = NftablesMonitor.Parser(table: "rampart")
            _ = parser.consume(bytes, own: [])
            for message in NetlinkMessages(bytes: bytes) {
                _ = ErrorReply(message)
                _ = RouteMonitor.defaultRouteGateways(message.data)
                for attribute in message.attributes(after: 4) {
                    count += 1
                    for child in attribute.children { count += child.value.count > 0 ? 1 : 0 }
                }
                _ = message.attributes(after: 4).path(to: message.data.startIndex + 30)
            }
            return count
        }
        #expect(walk(datagram) > 5)
        for n in 0..<datagram.count { _ = walk(Array(datagram.prefix(n))) }
        var random = SplitMix(state: 9)
        for i in 0..<datagram.count {
            for value: UInt8 in [0, 1, 3, 4, 0x7f, 0xff, UInt8(truncatingIfNeeded: random.next())] {
                var corrupted = datagram
                corrupted[i] = value
                _ = walk(corrupted)
            }
        }
    }
}

/// The nfnetlink_log messages rampart builds and reads.
@Suite struct NflogWireTests {
    static func packetMessage(prefix: String, hook: UInt8, indev: UInt32, payload: [UInt8]) -> [UInt8] {
        KernelDatagrams.nflogPacket(prefix: prefix, hook: hook, indev: indev, payload: payload)
    }

    @Test func packetsAreRead() {
        let payload: [UInt8] = [0x45, 0, 0, 20] + [UInt8](repeating: 0, count: 16)
        let one = Self.packetMessage(prefix: "rampart in F12 ", hook: 1, indev: 7, payload: payload)
        let packets = Nflog.packets(
            one + Self.packetMessage(prefix: "rampart invalid ", hook: 3, indev: 2, payload: [1, 2, 3]))
        #expect(
            packets == [
                NflogPacket(family: 2, hook: 1, prefix: "rampart in F12 ", inInterface: 7, payload: payload),
                NflogPacket(family: 2, hook: 3, prefix: "rampart invalid ", inInterface: 2, payload: [1, 2, 3])
            ])
        // Truncated anywhere: whole messages only, never a read past the end.
        for cut in 0..<one.count { _ = Nflog.packets(Array(one.prefix(cut))) }
        #expect(Nflog.packets(Array(one.prefix(one.count - 1))).isEmpty)
    }

    @Test func configMessagesAreWhatTheUapiSays() {
        let bind = Nflog.config(group: 1000, sequence: 5, attributes: Nflog.bind)
        #expect(bind.count == 28)
        #expect(Array(bind[4..<6]) == [0x01, 0x04], "type NFULNL_MSG_CONFIG of subsystem ULOG (4 << 8 | 1)")
        #expect(Array(bind[16..<20]) == [0, 0, 0x03, 0xe8], "AF_UNSPEC, version 0, res_id = group 1000 big-endian")
        #expect(Array(bind[20..<25]) == [5, 0, 1, 0, UInt8(NFULNL_CFG_CMD_BIND.rawValue)])
        #expect(Array(Nflog.copyPackets(128)) == [10, 0, 2, 0, 0, 0, 0, 128, 2, 0, 0, 0])
    }
}
