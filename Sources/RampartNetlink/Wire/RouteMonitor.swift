import CNetfilter
import Glibc
import RampartPolicy
import RampartSystem
import RampartSyscall

/// Default gateways from rtnetlink: an initial dump of the main table, then the route multicast
/// groups. Blocks in poll on the thread of the service that runs it; no polling.
public final class RouteMonitor: Sendable {
    private let transport: any NotificationTransport

    public convenience init() throws(NetlinkError) {
        self.init(transport: try NetlinkSubscription.routes())
    }

    /// Route notifications from `transport`: the real subscription, or a test's recorded datagrams.
    public init(transport: any NotificationTransport) {
        self.transport = transport
    }

    /// Calls `changed` after every route change notification (the caller re-reads the gateways),
    /// until `wakeup` is stopped (returns) or the socket fails (throws, with the errno).
    public func run(until wakeup: Wakeup, changed: @escaping @Sendable () -> Void) throws(NetlinkError) {
        // Lost notifications: re-read the routes, which is what any notification means.
        try receiveNotifications(from: transport, until: wakeup, overrun: changed) { bytes in
            let relevant = NetlinkMessages(bytes: bytes).contains {
                $0.type == UInt16(RTM_NEWROUTE) || $0.type == UInt16(RTM_DELROUTE)
            }
            if relevant { changed() }
        }
    }

    /// The gateways of the default routes (IPv4 and IPv6, multipath included) in the main table.
    public static func defaultGateways() throws(NetlinkError) -> [DefaultGateway] {
        guard let s = mnl_socket_open(NETLINK_ROUTE) else { throw .system("cannot open a route netlink socket") }
        defer { mnl_socket_close(s) }
        guard mnl_socket_bind(s, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            throw .system("cannot bind a route netlink socket")
        }
        // RTM_GETROUTE dump: nlmsghdr + rtmsg (family AF_UNSPEC: both families)
        var request = [UInt8](repeating: 0, count: 16 + 12)
        let seq = UInt32(truncatingIfNeeded: time(nil))
        func put32(_ v: UInt32, _ at: Int) {
            for i in 0..<4 { request[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
        }
        func put16(_ v: UInt16, _ at: Int) {
            request[at] = UInt8(v & 0xff)
            request[at + 1] = UInt8(v >> 8)
        }
        put32(UInt32(request.count), 0)
        put16(UInt16(RTM_GETROUTE), 4)
        put16(UInt16(NLM_F_REQUEST | NLM_F_DUMP), 6)
        put32(seq, 8)
        let fd = mnl_socket_get_fd(s)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else {
            throw .system("cannot ask for the routing table")
        }
        var gateways: [DefaultGateway] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let (n, code) = Syscall.uninterrupted {
                buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            }
            if n < 0 { throw .system("cannot read the routing table", code) }
            for message in NetlinkMessages(bytes: Array(buffer[0..<n])) {
                if message.type == UInt16(NLMSG_DONE) { return gateways }
                if message.type == UInt16(NLMSG_ERROR) { throw NetlinkError("the kernel refused the route dump") }
                guard message.type == UInt16(RTM_NEWROUTE) else { continue }
                for g in defaultRoutes(message.data) where !gateways.contains(g) { gateways.append(g) }
            }
        }
    }

    /// The gateways of one RTM_NEWROUTE (`defaultRouteGateways`), each with whether the route was
    /// learned from a router advertisement (rtm_protocol RTPROT_RA).
    public static func defaultRoutes(_ data: ArraySlice<UInt8>) -> [DefaultGateway] {
        guard data.count >= 16 + 12 else { return [] }
        let fromRA = data[data.startIndex + 21] == 9
        return defaultRouteGateways(data).map { DefaultGateway(address: $0, fromRouterAdvertisement: fromRA) }
    }

    /// Parses one RTM_NEWROUTE: a default route (destination length 0) of the main table with a
    /// gateway, or with multipath next hops that have gateways.
    public static func defaultRouteGateways(_ data: ArraySlice<UInt8>) -> [IPAddress] {
        let base = data.startIndex
        guard data.count >= 16 + 12 else { return [] }
        let family = data[base + 16], dstLength = data[base + 17], type = data[base + 23]
        var table = UInt32(data[base + 20])
        guard dstLength == 0, type == UInt8(RTN_UNICAST), family == UInt8(AF_INET) || family == UInt8(AF_INET6) else {
            return []
        }
        var gateways: [IPAddress] = []
        func address(_ bytes: ArraySlice<UInt8>) -> IPAddress? {
            if bytes.count == 4 {
                return .v4(bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            }
            if bytes.count == 16 { return .v6(bytes.reduce(UInt128(0)) { $0 << 8 | UInt128($1) }) }
            return nil
        }
        // After nlmsghdr (16) and rtmsg (12).
        for attribute in NetlinkAttributes(data[(base + 28)...]) {
            switch Int32(attribute.type) {
            case Int32(RTA_TABLE.rawValue): if let t = attribute.u32 { table = t }
            case Int32(RTA_GATEWAY.rawValue): if let a = address(attribute.value) { gateways.append(a) }
            case Int32(RTA_MULTIPATH.rawValue):
                // struct rtnexthop { u16 len; u8 flags; u8 hops; i32 ifindex; } then attributes
                let value = attribute.value
                var at = value.startIndex
                while at + 8 <= value.endIndex {
                    let length = Int(Wire.u16(value, at))
                    guard length >= 8, at + length <= value.endIndex else { break }
                    for nested in NetlinkAttributes(value[(at + 8)..<(at + length)])
                    where Int32(nested.type) == Int32(RTA_GATEWAY.rawValue) {
                        if let a = address(nested.value) { gateways.append(a) }
                    }
                    at += Wire.aligned(length)
                }
            default: break
            }
        }
        return table == UInt32(RT_TABLE_MAIN.rawValue) ? gateways : []
    }
}

/// A default route's gateway, and whether the kernel learned the route from an IPv6 router
/// advertisement (which anyone on the link can send) rather than from configuration or DHCP.
public struct DefaultGateway: Sendable, Equatable {
    public var address: IPAddress
    public var fromRouterAdvertisement: Bool

    public init(address: IPAddress, fromRouterAdvertisement: Bool = false) {
        self.address = address
        self.fromRouterAdvertisement = fromRouterAdvertisement
    }
}
