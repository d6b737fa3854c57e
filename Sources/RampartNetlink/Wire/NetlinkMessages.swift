/// The netlink wire format, parsed without trusting it: every length is checked against what is
/// there, so a truncated or hostile datagram ends the walk instead of reading past it. The one
/// place in rampart that reads netlink messages and attributes (nf_tables replies and
/// notifications, rtnetlink routes, extended ACKs); pure, so it is tested and fuzzed without a socket.
public struct NetlinkMessages: Sequence {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    public struct Message {
        public var type: UInt16
        public var flags: UInt16
        public var sequence: UInt32
        /// nlmsg_pid: in a notification, the port id of the socket whose request caused it.
        public var portID: UInt32
        /// The whole message, header included.
        public var data: ArraySlice<UInt8>

        /// The attributes after the header and a fixed part of `fixedHeader` bytes (nfgenmsg: 4, rtmsg: 12).
        public func attributes(after fixedHeader: Int) -> NetlinkAttributes {
            NetlinkAttributes(data.dropFirst(Swift.min(data.count, 16 + fixedHeader)))
        }
    }

    public func makeIterator() -> AnyIterator<Message> {
        var offset = 0
        return AnyIterator {
            guard offset + 16 <= bytes.count else { return nil }
            let length = Int(Wire.u32(bytes[...], offset))
            guard length >= 16, offset + length <= bytes.count else { return nil }
            let message = Message(
                type: Wire.u16(bytes[...], offset + 4), flags: Wire.u16(bytes[...], offset + 6),
                sequence: Wire.u32(bytes[...], offset + 8), portID: Wire.u32(bytes[...], offset + 12),
                data: bytes[offset..<(offset + length)])
            offset += Wire.aligned(length)
            return message
        }
    }
}

/// One netlink attribute: type (without the nested and byte-order flags), and its value.
public struct NetlinkAttribute: Equatable {
    public var type: UInt16
    public var nested: Bool
    /// Where the attribute's header starts, in the indices of the slice it was walked from.
    public var offset: Int
    /// The header's length field: 4 plus the value's length.
    public var length: Int
    public var value: ArraySlice<UInt8>

    /// The attributes nested in this one.
    public var children: NetlinkAttributes { NetlinkAttributes(value) }

    /// A NUL-terminated string value.
    public var string: String { String(decoding: value.prefix { $0 != 0 }, as: UTF8.self) }

    public var u32: UInt32? { value.count == 4 ? Wire.u32(value, value.startIndex) : nil }
    public var u32BigEndian: UInt32? { u32.map { UInt32(bigEndian: $0) } }
}

/// The attributes laid end to end in `slice` (each 4-byte aligned); stops at the first that does not fit.
public struct NetlinkAttributes: Sequence {
    public let slice: ArraySlice<UInt8>

    public init(_ slice: ArraySlice<UInt8>) {
        self.slice = slice
    }

    public func makeIterator() -> AnyIterator<NetlinkAttribute> {
        var at = slice.startIndex
        return AnyIterator {
            guard at + 4 <= slice.endIndex else { return nil }
            let length = Int(Wire.u16(slice, at))
            let raw = Wire.u16(slice, at + 2)
            guard length >= 4, at + length <= slice.endIndex else { return nil }
            let attribute = NetlinkAttribute(
                type: raw & 0x3fff, nested: raw & 0x8000 != 0, offset: at, length: length,
                value: slice[(at + 4)..<(at + length)])
            at += Wire.aligned(length)
            return attribute
        }
    }

    /// The first attribute of `type`.
    public subscript(type: UInt16) -> NetlinkAttribute? { first { $0.type == type } }

    /// The path of attributes (type, index among its siblings) that contains byte `offset`,
    /// descending into nested attributes: names what an extended ACK points at.
    public func path(to offset: Int) -> [(type: UInt16, index: Int)] {
        var path: [(UInt16, Int)] = []
        var level = self
        descend: while true {
            for (index, attribute) in level.enumerated()
            where offset >= attribute.offset && offset < attribute.offset + attribute.length {
                path.append((attribute.type, index))
                guard attribute.nested, offset >= attribute.offset + 4 else { break descend }
                level = attribute.children
                continue descend
            }
            break
        }
        return path
    }
}

/// Little-endian (host order on every Linux rampart runs on) field readers over checked slices.
public enum Wire {
    public static func u16(_ b: ArraySlice<UInt8>, _ at: Int) -> UInt16 { UInt16(b[at]) | UInt16(b[at + 1]) << 8 }
    public static func u32(_ b: ArraySlice<UInt8>, _ at: Int) -> UInt32 {
        UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }
    public static func aligned(_ length: Int) -> Int { (length + 3) & ~3 }

    /// Builds one attribute (header, value, padding): for tests and fakes.
    public static func attribute(_ type: UInt16, nested: Bool = false, _ value: [UInt8]) -> [UInt8] {
        let length = 4 + value.count
        var out =
            [UInt8(length & 0xff), UInt8(length >> 8), UInt8(type & 0xff), UInt8((type >> 8) | (nested ? 0x80 : 0))]
            + value
        out += [UInt8](repeating: 0, count: aligned(length) - length)
        return out
    }

    /// Builds one netlink message around `payload` (the fixed header and attributes).
    public static func message(
        type: UInt16, flags: UInt16, sequence: UInt32, portID: UInt32 = 0, _ payload: [UInt8]
    ) -> [UInt8] {
        let length = 16 + payload.count
        var out: [UInt8] = []
        for v in [UInt32(length)] { out += le32(v) }
        out += [UInt8(type & 0xff), UInt8(type >> 8), UInt8(flags & 0xff), UInt8(flags >> 8)]
        out += le32(sequence) + le32(portID) + payload
        out += [UInt8](repeating: 0, count: aligned(length) - length)
        return out
    }

    public static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * UInt32($0))) } }
}

/// An NLMSG_ERROR reply: errno (positive; 0 is an ACK), and the extended-ACK offset and text if present.
public struct ErrorReply: Equatable {
    public var error: Int32
    /// The byte offset in the failing message that the kernel rejected (NLMSGERR_ATTR_OFFS).
    public var offset: Int?
    /// The kernel's explanation (NLMSGERR_ATTR_MSG).
    public var text: String?

    public init(error: Int32, offset: Int?, text: String?) {
        self.error = error
        self.offset = offset
        self.text = text
    }

    public init?(_ message: NetlinkMessages.Message) {
        let d = message.data
        guard d.count >= 20 else { return nil }
        let base = d.startIndex
        // Wrapping: INT32_MIN has no negation, and this is bytes from a socket.
        error = 0 &- Int32(bitPattern: Wire.u32(d, base + 16))
        // NLM_F_CAPPED (0x100): only the original header (16 bytes) follows the errno, TLVs after it.
        var at = base + 16 + 4 + 16
        if message.flags & 0x100 == 0, d.count >= 24 {
            at = base + 16 + 4 + Int(Wire.u32(d, base + 20))
        }
        // NLM_F_ACK_TLVS (0x200): extended-ACK attributes follow.
        guard message.flags & 0x200 != 0, at <= d.endIndex else { return }
        for attribute in NetlinkAttributes(d[at...]) {
            if attribute.type == 2, let v = attribute.u32 { offset = Int(v) }
            if attribute.type == 1 { text = attribute.string }
        }
    }
}
