import RampartPolicy

/// Shared helpers: address lists as the source files write them.
enum AddressText {
    /// An address, dropping an IPv6 zone id (`fe80::1%eth0`): set elements carry no zone.
    static func address(_ text: Substring) -> IPAddress? {
        var t = text.trimming(" \t\"'")
        if let percent = t.firstIndex(of: "%") { t = t[..<percent] }
        return IPAddress(t)
    }

    /// Addresses separated by blanks or commas; junk entries are skipped.
    static func list(_ text: Substring) -> [IPAddress] {
        text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" }).compactMap { address($0) }
    }
}

/// What one DHCP lease says about the servers this machine uses.
public struct LeaseInfo: Sendable, Equatable {
    public var interface: String?
    public var dhcpServers: [IPAddress] = []
    public var routers: [IPAddress] = []
    public var dnsServers: [IPAddress] = []
    public var winsServers: [IPAddress] = []
    /// When the lease ends, seconds since the epoch; nil when the file does not say (or `never`).
    public var expires: Double?
    /// dhcpcd's binary lease: the lease time (option 51), counted from the file's modification.
    public var leaseSeconds: UInt32?

    public init(interface: String? = nil) { self.interface = interface }
}
