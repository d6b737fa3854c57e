import CNetfilter
import Glibc

/// A change someone else made to table `inet rampart`, from nf_tables' multicast notifications.
public struct TableChange: Sendable, Equatable, CustomStringConvertible {
    /// What changed: `delete table`, `delete rule`, `new rule`, `delete chain`, `flush set`, …
    public var operations: [String]
    /// The process that made the change (from the NEWGEN message that ends each transaction).
    public var processName: String?
    public var processID: UInt32?
    /// True when notifications were lost (receive buffer overrun): assume the worst.
    public var overrun: Bool

    public var description: String {
        let who = processName.map { "\($0)\(processID.map { "[\($0)]" } ?? "")" } ?? "an unknown process"
        if overrun { return "notifications were lost; the table may have been changed by \(who)" }
        return "\(who): \(operations.joined(separator: ", "))"
    }
}

/// Listens on NFNLGRP_NFTABLES for changes to one table made by anyone but `ignoring` (our own
/// socket's port id), and reports each foreign transaction once. It blocks in `recv` on its own
/// thread and wakes only when the kernel has something to say: no polling.
public final class NftablesMonitor: @unchecked Sendable {
    private let socket: OpaquePointer
    private let table: String

    public init(table: String) throws(NetlinkError) {
        guard let s = mnl_socket_open(NETLINK_NETFILTER) else { throw .system("cannot open a netfilter netlink socket") }
        guard mnl_socket_bind(s, UInt32(1 << (NFNLGRP_NFTABLES.rawValue - 1)), pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let code = Glibc.errno
            mnl_socket_close(s)
            throw .system("cannot subscribe to nftables notifications", code)
        }
        var size: Int32 = 4 * 1024 * 1024
        _ = setsockopt(mnl_socket_get_fd(s), SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size))
        socket = s
        self.table = table
    }

    deinit { mnl_socket_close(socket) }

    /// Runs forever on the calling thread, calling `changed` for every foreign transaction that
    /// touched the table. `ownPortIDs` tells which changes are our own.
    public func run(ownPortIDs: @escaping @Sendable () -> Set<UInt32>, changed: @escaping @Sendable (TableChange) -> Void) {
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        var pending: [String] = []
        let fd = mnl_socket_get_fd(socket)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                let code = Glibc.errno
                if code == EINTR { continue }
                if code == ENOBUFS {
                    pending = []
                    changed(TableChange(operations: [], processName: nil, processID: nil, overrun: true))
                    continue
                }
                return
            }
            let own = ownPortIDs()
            for message in NetlinkMessages(bytes: Array(buffer[0..<n])) {
                let subsystem = Int32(message.type >> 8), type = Int32(message.type & 0xff)
                guard subsystem == NFNL_SUBSYS_NFTABLES else { continue }
                if type == Int32(NFT_MSG_NEWGEN.rawValue) {
                    // Each transaction ends with NEWGEN naming the process that committed it.
                    if !pending.isEmpty {
                        let attrs = NftablesMonitor.attributes(message.data)
                        let name = attrs[UInt16(NFTA_GEN_PROC_NAME.rawValue)].map { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                        let pid = attrs[UInt16(NFTA_GEN_PROC_PID.rawValue)].flatMap { $0.count == 4 ? UInt32(bigEndian: $0.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }) : nil }
                        changed(TableChange(operations: pending, processName: name, processID: pid, overrun: false))
                        pending = []
                    }
                    continue
                }
                guard !own.contains(message.sequenceOwner), message.data.count >= 20 else { continue }
                let family = message.data[message.data.startIndex + 16]
                guard family == UInt8(NFPROTO_INET) else { continue }
                // The table name is attribute 1 in table, chain, rule, set and element messages.
                let attrs = NftablesMonitor.attributes(message.data)
                guard let name = attrs[1], String(decoding: name.prefix { $0 != 0 }, as: UTF8.self) == table else { continue }
                if let operation = NftablesMonitor.operationNames[type] { pending.append(operation) }
            }
        }
    }

    static let operationNames: [Int32: String] = [
        Int32(NFT_MSG_DELTABLE.rawValue): "delete table", Int32(NFT_MSG_NEWTABLE.rawValue): "new table",
        Int32(NFT_MSG_DELCHAIN.rawValue): "delete chain", Int32(NFT_MSG_NEWCHAIN.rawValue): "new chain",
        Int32(NFT_MSG_DELRULE.rawValue): "delete rule", Int32(NFT_MSG_NEWRULE.rawValue): "new rule",
        Int32(NFT_MSG_DELSET.rawValue): "delete set", Int32(NFT_MSG_NEWSET.rawValue): "new set",
        Int32(NFT_MSG_DELSETELEM.rawValue): "delete set element", Int32(NFT_MSG_NEWSETELEM.rawValue): "new set element",
    ]

    /// Top-level attributes after the nlmsghdr and nfgenmsg.
    static func attributes(_ data: ArraySlice<UInt8>) -> [UInt16: [UInt8]] {
        var out: [UInt16: [UInt8]] = [:]
        var at = data.startIndex + 20
        while at + 4 <= data.endIndex {
            let length = Int(NetlinkMessages.u16(data, at))
            let type = NetlinkMessages.u16(data, at + 2) & 0x3fff
            guard length >= 4, at + length <= data.endIndex else { break }
            if out[type] == nil { out[type] = Array(data[(at + 4)..<(at + length)]) }
            at += (length + 3) & ~3
        }
        return out
    }
}

extension NetlinkMessages.Message {
    /// nlmsg_pid: in a notification, the port id of the socket whose request caused it.
    var sequenceOwner: UInt32 { NetlinkMessages.u32(data, data.startIndex + 12) }
}
