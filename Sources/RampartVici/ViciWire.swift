/// strongSwan's VICI protocol, the wire side (src/libcharon/plugins/vici/README.md): a message is a
/// tree of sections, key/values and lists; a packet wraps a message with a type and maybe a name;
/// the transport frames each packet with a 32-bit big-endian length. Debian ships no libvici, and
/// the format is small: this codec is the whole of it, strict on what it reads.
public struct ViciMessage: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case value([UInt8])
        case list([[UInt8]])
        case section(ViciMessage)
    }

    /// In order: charon reads some sections (children, proposals) in the order given.
    public private(set) var entries: [(key: String, value: Value)] = []

    public init() {}

    public init(_ entries: [(String, Value)]) {
        for (k, v) in entries { self[k] = v }
    }

    public static func == (a: ViciMessage, b: ViciMessage) -> Bool {
        a.entries.count == b.entries.count
            && zip(a.entries, b.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    /// Setting a key again replaces it in place (keys are unique in a section).
    public subscript(key: String) -> Value? {
        get { entries.first { $0.key == key }?.value }
        set {
            if let i = entries.firstIndex(where: { $0.key == key }) {
                if let newValue { entries[i].value = newValue } else { entries.remove(at: i) }
            } else if let newValue {
                entries.append((key, newValue))
            }
        }
    }

    public func string(_ key: String) -> String? {
        if case .value(let v)? = self[key] { return String(decoding: v, as: UTF8.self) }
        return nil
    }

    public func section(_ key: String) -> ViciMessage? {
        if case .section(let s)? = self[key] { return s }
        return nil
    }

    public func list(_ key: String) -> [String]? {
        if case .list(let l)? = self[key] { return l.map { String(decoding: $0, as: UTF8.self) } }
        return nil
    }

    enum Element: UInt8 {
        case sectionStart = 1, sectionEnd, keyValue, listStart, listItem, listEnd
    }

    public struct Malformed: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    public func encoded() throws(Malformed) -> [UInt8] {
        var out: [UInt8] = []
        try encode(into: &out)
        return out
    }

    func encode(into out: inout [UInt8]) throws(Malformed) {
        func name(_ n: String) throws(Malformed) {
            let bytes = Array(n.utf8)
            guard !bytes.isEmpty, bytes.count <= 255, bytes.allSatisfy({ $0 < 0x80 }) else {
                throw Malformed(description: "VICI name '\(n)' is not 1–255 ASCII bytes")
            }
            out.append(UInt8(bytes.count))
            out += bytes
        }
        func blob(_ b: [UInt8]) throws(Malformed) {
            guard b.count <= 0xffff else {
                throw Malformed(description: "VICI value of \(b.count) bytes exceeds 65,535")
            }
            out += [UInt8(b.count >> 8), UInt8(b.count & 0xff)]
            out += b
        }
        for (key, value) in entries {
            switch value {
            case .value(let v):
                out.append(Element.keyValue.rawValue)
                try name(key)
                try blob(v)
            case .list(let items):
                out.append(Element.listStart.rawValue)
                try name(key)
                for item in items {
                    out.append(Element.listItem.rawValue)
                    try blob(item)
                }
                out.append(Element.listEnd.rawValue)
            case .section(let s):
                out.append(Element.sectionStart.rawValue)
                try name(key)
                try s.encode(into: &out)
                out.append(Element.sectionEnd.rawValue)
            }
        }
    }

    /// Reads a whole message: sections balanced, lists closed and not nested, items only in
    /// lists, keys unique per section; anything else is refused with its offset.
    public init(decoding bytes: ArraySlice<UInt8>) throws(Malformed) {
        var i = bytes.startIndex
        func fail(_ why: String) -> Malformed {
            Malformed(description: "VICI message at byte \(i - bytes.startIndex): \(why)")
        }
        func byte() throws(Malformed) -> UInt8 {
            guard i < bytes.endIndex else { throw fail("truncated") }
            defer { i += 1 }
            return bytes[i]
        }
        func name() throws(Malformed) -> String {
            let n = Int(try byte())
            guard n > 0, bytes.endIndex - i >= n else { throw fail("truncated or empty name") }
            defer { i += n }
            return String(decoding: bytes[i..<i + n], as: UTF8.self)
        }
        func blob() throws(Malformed) -> [UInt8] {
            let n = Int(try byte()) << 8 | Int(try byte())
            guard bytes.endIndex - i >= n else { throw fail("truncated value") }
            defer { i += n }
            return Array(bytes[i..<i + n])
        }
        var stack: [(key: String, message: ViciMessage)] = [("", ViciMessage())]
        func put(_ key: String, _ value: Value) throws(Malformed) {
            guard stack[stack.count - 1].message[key] == nil else { throw fail("key '\(key)' repeated in a section") }
            stack[stack.count - 1].message[key] = value
        }
        while i < bytes.endIndex {
            guard let element = Element(rawValue: try byte()) else {
                throw fail("unknown element type \(bytes[i - 1])")
            }
            switch element {
            case .sectionStart:
                stack.append((try name(), ViciMessage()))
            case .sectionEnd:
                guard stack.count > 1 else { throw fail("section end without a section") }
                let done = stack.removeLast()
                try put(done.key, .section(done.message))
            case .keyValue:
                let key = try name()
                try put(key, .value(try blob()))
            case .listStart:
                let key = try name()
                var items: [[UInt8]] = []
                while true {
                    guard let next = Element(rawValue: try byte()) else {
                        throw fail("unknown element in list '\(key)'")
                    }
                    if next == .listEnd { break }
                    guard next == .listItem else { throw fail("only list items may appear in list '\(key)'") }
                    items.append(try blob())
                }
                try put(key, .list(items))
            case .listItem, .listEnd:
                throw fail("list element outside a list")
            }
        }
        guard stack.count == 1 else { throw fail("\(stack.count - 1) section(s) not closed") }
        self = stack[0].message
    }
}

extension ViciMessage.Value: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .value(Array(value.utf8)) }

    public static func string(_ s: String) -> Self { .value(Array(s.utf8)) }
    public static func strings(_ l: [String]) -> Self { .list(l.map { Array($0.utf8) }) }
}

/// One VICI packet.
public enum ViciPacket: Sendable, Equatable {
    case request(String, ViciMessage)
    case response(ViciMessage)
    case unknownCommand
    case eventRegister(String)
    case eventUnregister(String)
    case eventConfirm
    case eventUnknown
    case event(String, ViciMessage)

    /// The transport's limit on one byte sequence.
    public static let maximumLength = 512 * 1024

    /// Length-framed, ready for the socket.
    public func framed() throws(ViciMessage.Malformed) -> [UInt8] {
        var body: [UInt8] = []
        func named(_ type: UInt8, _ name: String) throws(ViciMessage.Malformed) {
            let bytes = Array(name.utf8)
            guard !bytes.isEmpty, bytes.count <= 255 else {
                throw ViciMessage.Malformed(description: "VICI packet name '\(name)' is not 1–255 bytes")
            }
            body = [type, UInt8(bytes.count)] + bytes
        }
        switch self {
        case .request(let n, let m):
            try named(0, n)
            body += try m.encoded()
        case .response(let m): body = [1] + (try m.encoded())
        case .unknownCommand: body = [2]
        case .eventRegister(let n): try named(3, n)
        case .eventUnregister(let n): try named(4, n)
        case .eventConfirm: body = [5]
        case .eventUnknown: body = [6]
        case .event(let n, let m):
            try named(7, n)
            body += try m.encoded()
        }
        guard body.count <= ViciPacket.maximumLength else {
            throw ViciMessage.Malformed(description: "VICI packet of \(body.count) bytes exceeds 512 KiB")
        }
        let n = UInt32(body.count)
        return [UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)] + body
    }

    /// One packet from one transport byte sequence (without its length prefix).
    public init(body: ArraySlice<UInt8>) throws(ViciMessage.Malformed) {
        guard let type = body.first else { throw ViciMessage.Malformed(description: "empty VICI packet") }
        var rest = body.dropFirst()
        func name() throws(ViciMessage.Malformed) -> String {
            guard let n = rest.first, n > 0, rest.count > Int(n) else {
                throw ViciMessage.Malformed(description: "VICI packet type \(type): truncated name")
            }
            let s = String(decoding: rest.dropFirst().prefix(Int(n)), as: UTF8.self)
            rest = rest.dropFirst(Int(n) + 1)
            return s
        }
        switch type {
        case 0:
            let n = try name()
            self = .request(n, try ViciMessage(decoding: rest))
        case 1: self = .response(try ViciMessage(decoding: rest))
        case 2: self = .unknownCommand
        case 3: self = .eventRegister(try name())
        case 4: self = .eventUnregister(try name())
        case 5: self = .eventConfirm
        case 6: self = .eventUnknown
        case 7:
            let n = try name()
            self = .event(n, try ViciMessage(decoding: rest))
        default: throw ViciMessage.Malformed(description: "unknown VICI packet type \(type)")
        }
    }
}

/// Splits a byte stream into packets: feed what the socket read, take the packets completed so far.
public struct ViciFramer: Sendable {
    var buffer: [UInt8] = []

    public init() {}

    public mutating func feed(_ bytes: some Sequence<UInt8>) throws(ViciMessage.Malformed) -> [ViciPacket] {
        buffer += bytes
        var packets: [ViciPacket] = []
        var start = 0
        while buffer.count - start >= 4 {
            let n =
                Int(buffer[start]) << 24 | Int(buffer[start + 1]) << 16 | Int(buffer[start + 2]) << 8
                | Int(buffer[start + 3])
            guard n <= ViciPacket.maximumLength else {
                throw ViciMessage.Malformed(description: "VICI length \(n) exceeds 512 KiB")
            }
            guard buffer.count - start - 4 >= n else { break }
            packets.append(try ViciPacket(body: buffer[(start + 4)..<(start + 4 + n)]))
            start += 4 + n
        }
        buffer.removeFirst(start)
        return packets
    }
}
