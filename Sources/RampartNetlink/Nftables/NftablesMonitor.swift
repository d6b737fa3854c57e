import CNetfilter
import Glibc
import RampartSystem

/// A change someone else made to table `inet rampart`, from nf_tables' multicast notifications.
public struct TableChange: Sendable, Equatable, CustomStringConvertible {
    /// What changed: `delete table`, `delete rule`, `new rule`, `delete chain`, `flush set`, …
    public var operations: [String]
    /// The process that made the change (from the NEWGEN message that ends each transaction).
    public var processName: String?
    public var processID: UInt32?
    /// True when notifications were lost (receive buffer overrun): assume the worst.
    public var overrun: Bool

    public init(operations: [String], processName: String?, processID: UInt32?, overrun: Bool) {
        self.operations = operations
        self.processName = processName
        self.processID = processID
        self.overrun = overrun
    }

    public var description: String {
        let who = processName.map { "\($0)\(processID.map { "[\($0)]" } ?? "")" } ?? "an unknown process"
        if overrun { return "notifications were lost; the table may have been changed by \(who)" }
        return "\(who): \(operations.joined(separator: ", "))"
    }
}

/// Listens on NFNLGRP_NFTABLES for changes to one table made by anyone but us (our own
/// socket's port id), and reports each foreign transaction once. Blocks in poll on the thread of
/// the service that runs it and wakes only when the kernel has something to say, or to stop.
public final class NftablesMonitor: Sendable {
    private let transport: any NotificationTransport
    private let table: String

    public convenience init(table: String) throws(NetlinkError) {
        self.init(table: table, transport: try NetlinkSubscription.nftables())
    }

    /// Notifications from `transport`: the real subscription, or a test's recorded datagrams.
    public init(table: String, transport: any NotificationTransport) {
        self.transport = transport
        self.table = table
    }

    /// Calls `changed` for every foreign transaction that touched the table, until `wakeup` is
    /// stopped (returns) or the socket fails (throws, with the errno). `ownPortIDs` tells which
    /// changes are our own.
    public func run(
        until wakeup: Wakeup, ownPortIDs: @escaping @Sendable () -> Set<UInt32>,
        changed: @escaping @Sendable (TableChange) -> Void
    ) throws(NetlinkError) {
        var parser = Parser(table: table)
        try receiveNotifications(
            from: transport, until: wakeup,
            overrun: {
                parser.pending = []
                changed(TableChange(operations: [], processName: nil, processID: nil, overrun: true))
            },
            datagram: { bytes in
                for change in parser.consume(bytes, own: ownPortIDs()) { changed(change) }
            })
    }

    /// Turns notification datagrams into foreign transactions: the operations on our table
    /// are collected until the NEWGEN message that ends each transaction. Pure.
    public struct Parser {
        public let table: String
        public var pending: [String] = []

        public init(table: String) {
            self.table = table
        }

        public mutating func consume(_ datagram: [UInt8], own: Set<UInt32>) -> [TableChange] {
            var changes: [TableChange] = []
            for message in NetlinkMessages(bytes: datagram) {
                let subsystem = Int32(message.type >> 8), type = Int32(message.type & 0xff)
                guard subsystem == NFNL_SUBSYS_NFTABLES else { continue }
                if type == Int32(NFT_MSG_NEWGEN.rawValue) {
                    // Each transaction ends with NEWGEN naming the process that committed it.
                    if !pending.isEmpty {
                        let attrs = message.attributes(after: 4)
                        let name = attrs[UInt16(NFTA_GEN_PROC_NAME.rawValue)]?.string
                        let pid = attrs[UInt16(NFTA_GEN_PROC_PID.rawValue)]?.u32BigEndian
                        changes.append(
                            TableChange(operations: pending, processName: name, processID: pid, overrun: false))
                        pending = []
                    }
                    continue
                }
                guard !own.contains(message.portID), message.data.count >= 20 else { continue }
                let family = message.data[message.data.startIndex + 16]
                guard family == UInt8(NFPROTO_INET) else { continue }
                // The table name is attribute 1 in table, chain, rule, set and element messages.
                guard let name = message.attributes(after: 4)[1], name.string == table else { continue }
                if let operation = NftablesMonitor.operationNames[type] { pending.append(operation) }
            }
            return changes
        }
    }

    static let operationNames: [Int32: String] = [
        Int32(NFT_MSG_DELTABLE.rawValue): "delete table", Int32(NFT_MSG_NEWTABLE.rawValue): "new table",
        Int32(NFT_MSG_DELCHAIN.rawValue): "delete chain", Int32(NFT_MSG_NEWCHAIN.rawValue): "new chain",
        Int32(NFT_MSG_DELRULE.rawValue): "delete rule", Int32(NFT_MSG_NEWRULE.rawValue): "new rule",
        Int32(NFT_MSG_DELSET.rawValue): "delete set", Int32(NFT_MSG_NEWSET.rawValue): "new set",
        Int32(NFT_MSG_DELSETELEM.rawValue): "delete set element", Int32(NFT_MSG_NEWSETELEM.rawValue): "new set element"
    ]
}
