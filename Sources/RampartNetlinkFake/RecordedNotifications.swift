import CNetfilter
import Glibc
import RampartNetlink
import RampartSystem

/// A subscription without a kernel: a test feeds it datagrams (or an overrun, or a failure) and
/// the service under test takes them through the same `NotificationTransport` as the real socket,
/// blocking in poll on a pipe the feeding writes to, so cancellation works as it does for real.
public final class RecordedNotifications: NotificationTransport, @unchecked Sendable {
    private let lock = NSLockLite()
    private var queue: [Notification] = []
    private var failure: NetlinkError?
    private var _taken = 0
    private let readEnd: Int32, writeEnd: Int32

    public init() {
        var fds: [Int32] = [-1, -1]
        precondition(pipe(&fds) == 0, "pipe")
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        (readEnd, writeEnd) = (fds[0], fds[1])
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }

    /// Queues datagrams (or overruns) for the reader, in order.
    public func feed(_ notifications: [Notification]) {
        lock.with { queue += notifications }
        poke()
    }

    /// The next `next` throws `error`, as a socket that failed.
    public func fail(_ error: NetlinkError) {
        lock.with { failure = error }
        poke()
    }

    /// How many notifications the reader has taken.
    public var taken: Int { lock.with { _taken } }

    private func poke() {
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    public func next(until wakeup: Wakeup, receiving: (Bool) -> Void) throws(NetlinkError) -> Notification? {
        while true {
            let (item, failed): (Notification?, NetlinkError?) = lock.with {
                if let failure { return (nil, failure) }
                guard !queue.isEmpty else { return (nil, nil) }
                _taken += 1
                return (queue.removeFirst(), nil)
            }
            if let failed { throw failed }
            if let item {
                receiving(true)
                return item
            }
            do {
                guard try wakeup.waitReadable(readEnd) else { return nil }
            } catch {
                throw NetlinkError(error.message, errno: error.errno)
            }
            var sink = [UInt8](repeating: 0, count: 64)
            _ = read(readEnd, &sink, sink.count)
        }
    }

    public var isReadable: Bool { lock.with { !queue.isEmpty } }
}

/// Netlink datagrams as the kernel sends them to subscribers, for tests: nftables notifications,
/// route changes and NFLOG packets.
public enum KernelDatagrams {
    static let nfgen: [UInt8] = [UInt8(NFPROTO_INET), 0, 0, 0]

    /// One nf_tables notification about `table` (`portID`: whose socket made the change).
    public static func nftables(
        _ type: nf_tables_msg_types, table: String, portID: UInt32 = 0, sequence: UInt32 = 1, extra: [UInt8] = []
    ) -> [UInt8] {
        Wire.message(
            type: UInt16(NFNL_SUBSYS_NFTABLES << 8) | UInt16(type.rawValue), flags: 0, sequence: sequence,
            portID: portID,
            nfgen + Wire.attribute(1, Array(table.utf8) + [0]) + extra)
    }

    /// The NEWGEN message that ends a transaction, naming the process that made it.
    public static func newgen(process: String, pid: UInt32) -> [UInt8] {
        Wire.message(
            type: UInt16(NFNL_SUBSYS_NFTABLES << 8) | UInt16(NFT_MSG_NEWGEN.rawValue), flags: 0, sequence: 0,
            nfgen + Wire.attribute(UInt16(NFTA_GEN_ID.rawValue), Wire.le32(7))
                + Wire.attribute(UInt16(NFTA_GEN_PROC_PID.rawValue), Wire.le32(pid.bigEndian))
                + Wire.attribute(UInt16(NFTA_GEN_PROC_NAME.rawValue), Array(process.utf8) + [0]))
    }

    /// RTM_NEWROUTE (`delete`: RTM_DELROUTE) for a route of `table`, with a gateway or multipath next hops.
    public static func route(
        family: UInt8, destinationLength: UInt8, table: UInt8 = UInt8(RT_TABLE_MAIN.rawValue), gateway: [UInt8]?,
        multipath: [[UInt8]] = [], delete: Bool = false
    ) -> [UInt8] {
        // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags (u32)
        var payload: [UInt8] = [family, destinationLength, 0, 0, table, 3, 0, UInt8(RTN_UNICAST), 0, 0, 0, 0]
        if let gateway { payload += Wire.attribute(UInt16(RTA_GATEWAY.rawValue), gateway) }
        if !multipath.isEmpty {
            var hops: [UInt8] = []
            for g in multipath {
                let attribute = Wire.attribute(UInt16(RTA_GATEWAY.rawValue), g)
                hops += [UInt8(8 + attribute.count), 0, 0, 0, 2, 0, 0, 0] + attribute
            }
            payload += Wire.attribute(UInt16(RTA_MULTIPATH.rawValue), hops)
        }
        return Wire.message(type: UInt16(delete ? RTM_DELROUTE : RTM_NEWROUTE), flags: 0, sequence: 1, payload)
    }

    /// An NFLOG packet message: nlmsghdr, nfgenmsg, then the attributes (NFULA_SEQ when `sequence`).
    public static func nflogPacket(
        prefix: String, hook: UInt8, indev: UInt32, payload: [UInt8], sequence: UInt32? = nil
    ) -> [UInt8] {
        var attributes = Wire.attribute(UInt16(NFULA_PACKET_HDR.rawValue), [0x08, 0x00, hook, 0])
        attributes += Wire.attribute(
            UInt16(NFULA_IFINDEX_INDEV.rawValue), withUnsafeBytes(of: indev.bigEndian) { Array($0) })
        attributes += Wire.attribute(UInt16(NFULA_PREFIX.rawValue), Array(prefix.utf8) + [0])
        attributes += Wire.attribute(UInt16(NFULA_PAYLOAD.rawValue), payload)
        if let sequence {
            attributes += Wire.attribute(
                UInt16(NFULA_SEQ.rawValue), withUnsafeBytes(of: sequence.bigEndian) { Array($0) })
        }
        let length = 20 + attributes.count
        var out = withUnsafeBytes(of: UInt32(length).littleEndian) { Array($0) }
        out += withUnsafeBytes(of: Nflog.packetType.littleEndian) { Array($0) } + [0, 0] + [0, 0, 0, 0] + [0, 0, 0, 0]
        return out + [2, 0, 0x03, 0xe8] + attributes
    }
}
