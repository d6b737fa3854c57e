import RampartPolicy

/// What IPsec itself needs to pass for the peers of negotiate filters (issue 34): netfilter sees an
/// inbound ESP or AH packet before the kernel decrypts it, an outbound one after encryption, and
/// IKE on UDP 500 and 4500 (NAT traversal moves IKE and ESP-in-UDP to 4500, from any source port a
/// NAT picks). Windows filtered the clear traffic after IPsec processing; here these pass before
/// the filters, so that the clear packet inside is what the filters decide, as there.
///
/// The peers are the remote sides of the filters that negotiate in either direction: the side that
/// is not `me` (both, when neither is); `any` when one of them is any; for a tunnel rule's filter,
/// its tunnel endpoint (the SA runs to the gateway, not to the network behind it). Shared by the compiler and
/// the reference evaluator, so both decide these packets alike.
public struct NegotiationTransport: Sendable, Equatable {
    /// A peer's address, with the filter it comes from (an address group is the filter's scope's).
    public struct Peer: Sendable, Equatable {
        public var address: AddressSpec
        public var origin: FilterOrigin
    }

    /// Deduplicated, in first-seen order; one `any` peer alone when any peer may negotiate.
    public var peers: [Peer]

    public static let ikePorts: [UInt16] = [500, 4500]
    public static let protocols: [(number: UInt8, id: String)] = [(50, "ipsec-esp"), (51, "ipsec-ah")]

    public init(_ filters: [ActiveFilter]) {
        var peers: [Peer] = []
        for f in filters where f.inbound == .negotiate || f.outbound == .negotiate {
            let remote: [AddressSpec] =
                f.tunnel.map { [$0] }
                ?? (f.destination.isMe ? [f.source] : f.source.isMe ? [f.destination] : [f.source, f.destination])
            for spec in remote where !spec.isMe {
                if case .group = spec {
                    if !peers.contains(Peer(address: spec, origin: f.origin)) {
                        peers.append(Peer(address: spec, origin: f.origin))
                    }
                } else if !peers.contains(where: { $0.address == spec }) {
                    peers.append(Peer(address: spec, origin: f.origin))
                }
            }
        }
        self.peers = peers.first(where: { $0.address == .any }).map { [$0] } ?? peers
    }

    public var isEmpty: Bool { peers.isEmpty }

    /// The rule id that passes `p` in this direction, or nil. The peer is the source of what
    /// arrives and the destination of what leaves; IKE is matched on this host's port.
    public func passes(_ p: Packet, _ hook: Chain.Hook, isPeer: (Peer, IPAddress) -> Bool) -> String? {
        let remote = hook == .input ? p.source : p.destination
        guard peers.contains(where: { isPeer($0, remote) }) else { return nil }
        if let proto = Self.protocols.first(where: { $0.number == p.proto }) { return proto.id }
        let localPort = hook == .input ? p.destinationPort : p.sourcePort
        if p.proto == 17, Self.ikePorts.contains(localPort) { return "ipsec-ike" }
        return nil
    }
}
