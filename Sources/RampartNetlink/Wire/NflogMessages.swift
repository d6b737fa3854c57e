import CNetfilter

/// One packet the kernel's `log group N` handed to NFLOG: its prefix, hook, interfaces and the
/// first bytes of the packet from its network header on.
public struct NflogPacket: Sendable, Equatable {
    /// nfgenmsg family: AF_INET (2) or AF_INET6 (10).
    public var family: UInt8
    /// NF_INET_LOCAL_IN (1), NF_INET_LOCAL_OUT (3), …
    public var hook: UInt8
    public var prefix: String
    public var inInterface: UInt32?
    public var outInterface: UInt32?
    public var payload: [UInt8]
    /// The group's own sequence number (NFULA_SEQ): a gap is packets the kernel could not deliver.
    public var sequence: UInt32?

    public init(
        family: UInt8, hook: UInt8, prefix: String, inInterface: UInt32? = nil, outInterface: UInt32? = nil,
        payload: [UInt8], sequence: UInt32? = nil
    ) {
        self.family = family
        self.hook = hook
        self.prefix = prefix
        self.inInterface = inInterface
        self.outInterface = outInterface
        self.payload = payload
        self.sequence = sequence
    }
}

/// The nfnetlink_log wire format (linux/netfilter/nfnetlink_log.h), spoken over libmnl's socket:
/// the protocol is three messages and a handful of attributes, so libnetfilter_log would add a
/// library for what `NetlinkMessages` already parses without trusting its input.
public enum Nflog {
    static let subsystem = UInt16(NFNL_SUBSYS_ULOG) << 8
    public static let packetType = subsystem | UInt16(NFULNL_MSG_PACKET.rawValue)
    public static let configType = subsystem | UInt16(NFULNL_MSG_CONFIG.rawValue)

    /// The packets in one datagram; anything else (ACKs, truncated messages) is skipped.
    public static func packets(_ datagram: [UInt8]) -> [NflogPacket] {
        var out: [NflogPacket] = []
        for message in NetlinkMessages(bytes: datagram) where message.type == packetType {
            guard message.data.count >= 20 else { continue }
            var packet = NflogPacket(
                family: message.data[message.data.startIndex + 16], hook: 0, prefix: "", payload: [])
            for a in message.attributes(after: 4) {
                switch Int(a.type) {
                case Int(NFULA_PACKET_HDR.rawValue):
                    // struct nfulnl_msg_packet_hdr { __be16 hw_protocol; __u8 hook; __u8 _pad; }
                    if a.value.count >= 3 { packet.hook = a.value[a.value.startIndex + 2] }
                case Int(NFULA_PREFIX.rawValue): packet.prefix = a.string
                case Int(NFULA_IFINDEX_INDEV.rawValue): packet.inInterface = a.u32BigEndian
                case Int(NFULA_IFINDEX_OUTDEV.rawValue): packet.outInterface = a.u32BigEndian
                case Int(NFULA_PAYLOAD.rawValue): packet.payload = Array(a.value)
                case Int(NFULA_SEQ.rawValue): packet.sequence = a.u32BigEndian
                default: break
                }
            }
            out.append(packet)
        }
        return out
    }

    /// A config request for `group`, asking for an ACK: nlmsghdr, nfgenmsg (AF_UNSPEC, version 0,
    /// res_id = the group, big-endian), then `attributes`.
    static func config(group: UInt16, sequence: UInt32, attributes: [UInt8]) -> [UInt8] {
        let length = 16 + 4 + attributes.count
        var out: [UInt8] = []
        func u32(_ v: UInt32) { out += [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)] }
        func u16(_ v: UInt16) { out += [UInt8(v & 0xff), UInt8(v >> 8)] }
        u32(UInt32(length))
        u16(configType)
        u16(UInt16(NLM_F_REQUEST | NLM_F_ACK))
        u32(sequence)
        u32(0)
        out += [0, 0, UInt8(group >> 8), UInt8(group & 0xff)]
        return out + attributes
    }

    /// NFULA_CFG_CMD: bind this socket to the group (struct nfulnl_msg_config_cmd { __u8 command; }).
    static let bind = Wire.attribute(UInt16(NFULA_CFG_CMD.rawValue), [UInt8(NFULNL_CFG_CMD_BIND.rawValue)])

    /// NFULA_CFG_FLAGS: number the group's packets (NFULNL_CFG_F_SEQ), so losses are counted exactly.
    static let numbered = Wire.attribute(UInt16(NFULA_CFG_FLAGS.rawValue), [0, UInt8(NFULNL_CFG_F_SEQ)])

    /// NFULA_CFG_QTHRESH, NFULA_CFG_TIMEOUT, NFULA_CFG_NLBUFSIZ: the kernel queues up to `packets`
    /// packets (or `bufferBytes`) into one datagram, sent at the latest after `hundredths` of a
    /// second, so a flood costs one receive per batch, not per packet. Each a __be32.
    static func batched(packets: UInt32, hundredths: UInt32, bufferBytes: UInt32) -> [UInt8] {
        func be32(_ v: UInt32) -> [UInt8] {
            [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]
        }
        return Wire.attribute(UInt16(NFULA_CFG_QTHRESH.rawValue), be32(packets))
            + Wire.attribute(UInt16(NFULA_CFG_TIMEOUT.rawValue), be32(hundredths))
            + Wire.attribute(UInt16(NFULA_CFG_NLBUFSIZ.rawValue), be32(bufferBytes))
    }

    /// NFULA_CFG_MODE: copy the first `bytes` of each packet (struct nfulnl_msg_config_mode {
    /// __be32 copy_range; __u8 copy_mode; __u8 _pad; }).
    static func copyPackets(_ bytes: UInt32) -> [UInt8] {
        Wire.attribute(
            UInt16(NFULA_CFG_MODE.rawValue),
            [
                UInt8(bytes >> 24), UInt8(bytes >> 16 & 0xff), UInt8(bytes >> 8 & 0xff), UInt8(bytes & 0xff),
                UInt8(NFULNL_COPY_PACKET), 0
            ])
    }
}
