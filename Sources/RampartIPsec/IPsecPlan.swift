import FoundationEssentials
import RampartCompiler
import RampartPolicy

/// What charon must hold for the policy in force: one IKE connection per negotiate rule, one
/// transport-mode CHILD_SA per filter (and per port item), the pre-shared keys. Pure: the engine
/// turns it into VICI messages and compares it with what it loaded last (docs/ipsec.md).
public struct IPsecPlan: Sendable, Equatable {
    public struct Child: Sendable, Equatable {
        /// `F12`, `F12-2` for the second port item of a list.
        public var name: String
        public var filterID: String
        public var localTS: String
        public var remoteTS: String
        public var espProposals: [String]
        public var ahProposals: [String]
        public var lifeSeconds: Int
        public var lifeBytes: Int?
        /// `trap` negotiates on the first packet; `none` only answers a peer that negotiates.
        public var startAction: String
        public var reqid: Int
        /// `transport`, or `tunnel` for a rule with a tunnel endpoint (`tunnel=`).
        public var mode = "transport"
    }

    public enum Authentication: Sendable, Equatable {
        case psk
        /// `rootca=DN`: both sides by certificate; the peer's chain must contain the CA named `ca`.
        case certificate(ca: String)
    }

    /// Where this host's certificate, its key and the trusted CAs are (rampartd.conf); read by
    /// `IPsecSync` when a connection authenticates with certificates.
    public struct Credentials: Sendable, Equatable {
        public var certificate: String
        public var privateKey: String
        public var caDirectory: String

        public init(certificate: String, privateKey: String, caDirectory: String) {
            self.certificate = certificate
            self.privateKey = privateKey
            self.caDirectory = caDirectory
        }
    }

    public struct Connection: Sendable, Equatable {
        /// `rampart-<store>-<rule id>`: stable while the rule exists.
        public var name: String
        public var origin: String
        public var version: Int
        public var remoteAddresses: [String]
        public var proposals: [String]
        public var rekeySeconds: Int
        public var authentication: Authentication
        public var children: [Child]
        /// The peer's IKE identity: its address when the rule names one peer (its key is found by
        /// it); nil: any peer, whose key is the one without owners.
        public var remoteID: String?
        /// IKEv2 childless initiation (`allow`, `force`, `never`; rampartd.conf `ipsec_childless`).
        public var childless = "allow"
        /// Certificate status checking (`set config strongcrlcheck`): `strict` for 2, else `relaxed`.
        public var revocation = "relaxed"
    }

    public struct Secret: Sendable, Equatable {
        public var id: String
        public var key: String
        /// Peer identities the key belongs to (empty: any peer).
        public var owners: [String]
    }

    public var connections: [Connection] = []
    public var secrets: [Secret] = []
    /// Filters that stay negotiate in nftables (clear traffic dropped) but cannot become an SA, and why.
    public var refused: [String] = []
    public var warnings: [String] = []
    /// Set by rampartd when `needsCertificates`.
    public var credentials: Credentials?

    public init() {}

    public var isEmpty: Bool { connections.isEmpty }

    public var needsCertificates: Bool {
        connections.contains { if case .certificate = $0.authentication { true } else { false } }
    }

    /// The reqid of each filter's SAs, for the filter's accept rule (`ipsec in reqid`).
    public var reqids: [String: [Int]] {
        var out: [String: [Int]] = [:]
        for c in connections { for ch in c.children { out[ch.filterID, default: []].append(ch.reqid) } }
        return out
    }

    /// The first reqid rampart hands out; charon's own start at 1, so the ranges do not meet.
    public static let firstReqid = 0x5200_0000

    /// What every connection of a plan shares: rampartd.conf's IKE version and childless mode,
    /// and the store's certificate status checking.
    struct Shared {
        var ikeVersion: Int
        var childless: String
        var revocation: String
        /// This host's addresses: a rule whose tunnel endpoint is one of them is a tunnel's inbound half.
        var local: Set<IPAddress> = []
    }

    public static func make(
        _ store: Store, dynamic: DynamicState? = nil, ikeVersion: Int = 2, childless: String = "allow",
        localAddresses: [IPAddress] = [], at time: Date = Date()
    ) -> IPsecPlan {
        var plan = IPsecPlan()
        var reqid = firstReqid
        let shared = Shared(
            ikeVersion: ikeVersion, childless: childless,
            revocation: store.config.strongCRLCheck == 2 ? "strict" : "relaxed", local: Set(localAddresses))
        for location in [StoreLocation.persistent, .local] {
            addRules(of: store, location, shared, at: time, reqid: &reqid, to: &plan)
        }
        // Dynamic negotiate rules: the main mode policy gives the IKE proposals and lifetime, the
        // quick mode policy the ESP/AH offers, PFS and `soft`.
        for rule in dynamic?.rules ?? [] where rule.inbound == .negotiate || rule.outbound == .negotiate {
            addDynamic(rule, dynamic!, shared, reqid: &reqid, to: &plan)
        }
        return plan
    }

    /// The negotiate rules of the policy assigned in `location` (the domain policy's in place of the
    /// local one when it decides).
    static func addRules(
        of store: Store, _ location: StoreLocation, _ shared: Shared, at time: Date, reqid: inout Int,
        to plan: inout IPsecPlan
    ) {
        var s = store[location]
        var tag = location == .persistent ? "p" : "l"
        var prefix = "F"
        if location == .local, store.domainDecides, let domain = store.domain {
            s = domain.store
            tag = "d"
            prefix = "G"
        }
        guard let policy = s.assignedPolicy else { return }
        for rule in policy.rules where rule.active && EffectiveFilters.inForce(rule, s, at: time) {
            guard let li = s.filterListIndex(rule.filterList), let ai = s.filterActionIndex(rule.filterAction) else {
                continue
            }
            let action = s.filterActions[ai]
            guard action.action == .negotiate else { continue }
            let where_ = "rule '\(rule.name)' of policy '\(policy.name)'"
            guard case .use(let tunnel) = tunnelEndpoint(rule.tunnel, in: policy, shared, where_: where_, plan: &plan)
            else { continue }
            guard let auth = authentication(rule.authMethods, where_: where_, plan: &plan) else { continue }
            let esp = quickModeProposals(
                action.qmsecmethods, pfs: action.qmpfs || policy.mmpfs,
                group: policy.mmsecmethods.first?.group, where_: where_, plan: &plan)
            let connection = Connection(
                name: "rampart-\(tag)\(rule.id)", origin: where_, version: shared.ikeVersion, remoteAddresses: [],
                proposals: mainModeProposals(policy.mmsecmethods), rekeySeconds: policy.mmlifetime * 60,
                authentication: auth.0, children: [], childless: shared.childless, revocation: shared.revocation)
            let filters = s.filterLists[li].filters.map { ("\(prefix)\($0.seq)", $0) }
            add(
                connection, filters: filters, esp: esp, offersFrom: "filter action '\(action.name)'", key: auth.1,
                startAction: (action.inpass || action.soft) ? "none" : "trap",
                answerOnly: action.soft || action.inpass, tunnel: tunnel,
                reqid: &reqid, to: &plan)
        }
    }

    static func addDynamic(
        _ rule: DynamicState.Rule, _ dynamic: DynamicState, _ shared: Shared, reqid: inout Int,
        to plan: inout IPsecPlan
    ) {
        let where_ = "dynamic rule \(rule.seq)"
        guard
            case .use(let tunnel) = tunnelEndpoint(rule.tunnelDestination, in: nil, shared, where_: where_, plan: &plan)
        else { return }
        guard let auth = authentication(rule.authMethods, where_: where_, plan: &plan) else { return }
        let mm = dynamic.mainModePolicies.first { $0.name.lowercased() == rule.mmpolicy.lowercased() }
        let qm = rule.qmpolicy.flatMap { name in
            dynamic.quickModePolicies.first { $0.name.lowercased() == name.lowercased() }
        }
        let group: Int?
        switch qm?.pfsGroup.uppercased() {
        case "GRP1": group = 1
        case "GRP2": group = 2
        case "GRP3": group = 3
        case "GRPMM": group = mm?.mmsecmethods.first?.group ?? 2
        default: group = nil
        }
        let esp = quickModeProposals(
            qm?.qmsecmethods ?? [], pfs: group != nil, group: group, where_: where_, plan: &plan)
        let connection = Connection(
            name: "rampart-y\(rule.seq)", origin: where_, version: shared.ikeVersion, remoteAddresses: [],
            proposals: mainModeProposals(mm?.mmsecmethods ?? []), rekeySeconds: (mm?.mmlifetime ?? 480) * 60,
            authentication: auth.0, children: [], childless: shared.childless, revocation: shared.revocation)
        let soft = qm?.soft ?? false
        // Only a host that must protect what it sends starts IKE; inbound-only negotiate answers.
        let start = !soft && rule.outbound == .negotiate ? "trap" : "none"
        add(
            connection, filters: [("D\(rule.seq)", rule.filter)], esp: esp,
            offersFrom: "quick mode policy '\(qm?.name ?? "default")'",
            key: auth.1, startAction: start, answerOnly: start == "none", tunnel: tunnel, reqid: &reqid, to: &plan)
    }

    enum TunnelUse { case use(String?), skip }

    /// A rule's tunnel endpoint: nil for transport mode; the peer's address for a tunnel; a rule
    /// whose endpoint is this host is a tunnel's inbound half (Windows writes a rule for each
    /// direction), carried by the SA of the rule whose endpoint is the other end, which charon
    /// installs for both directions. Anything but one address is refused.
    static func tunnelEndpoint(
        _ spec: AddressSpec?, in policy: Policy?, _ shared: Shared, where_: String, plan: inout IPsecPlan
    ) -> TunnelUse {
        guard let spec else { return .use(nil) }
        let address: IPAddress
        switch spec {
        case .me: return inboundHalf(policy, shared, where_: where_, plan: &plan)
        case .subnet(let ip, let p) where p == ip.family.bits: address = ip
        case .range(let a, let b) where a == b: address = a
        default:
            plan.refused.append(
                "\(where_): the tunnel endpoint \(spec) is not an IP address (charon needs the peer's address): give tunnel=ADDRESS"
            )
            return .skip
        }
        if shared.local.contains(address) { return inboundHalf(policy, shared, where_: where_, plan: &plan) }
        return .use(address.description)
    }

    static func inboundHalf(_ policy: Policy?, _ shared: Shared, where_: String, plan: inout IPsecPlan) -> TunnelUse {
        let outbound = policy?.rules.contains { r in
            guard r.active, let t = r.tunnel else { return false }
            switch t {
            case .subnet(let ip, let p): return p == ip.family.bits && !shared.local.contains(ip)
            case .range(let a, let b): return a == b && !shared.local.contains(a)
            default: return false
            }
        }
        guard outbound == true else {
            plan.refused.append(
                "\(where_): its tunnel endpoint is this host, and no rule of its policy has the other end as its endpoint: add the outbound rule (tunnel=THE PEER'S ADDRESS)"
            )
            return .skip
        }
        plan.warnings.append(
            "\(where_): its tunnel endpoint is this host: the inbound half of a tunnel, carried by the SA of the rule whose endpoint is the other end"
        )
        return .skip
    }

    /// One connection with a CHILD_SA per filter (per port item), its key, into `plan`.
    static func add(
        _ c: Connection, filters: [(String, Filter)], esp: (esp: [String], ah: [String], seconds: Int, bytes: Int?),
        offersFrom: String, key: String?, startAction: String, answerOnly: Bool, tunnel: String? = nil,
        reqid: inout Int, to plan: inout IPsecPlan
    ) {
        var connection = c
        guard !esp.esp.isEmpty || !esp.ah.isEmpty else {
            plan.refused.append("\(c.origin): no offer of \(offersFrom) can be negotiated")
            return
        }
        var peers: Set<String> = []
        var anyPeer = false
        for (id, filter) in filters {
            guard let sides = selectors(filter, id: id, plan: &plan) else { continue }
            for (n, side) in sides.enumerated() {
                if let peer = side.peer { peers.insert(peer) } else { anyPeer = true }
                connection.children.append(
                    Child(
                        name: n == 0 ? id : "\(id)-\(n + 1)", filterID: id, localTS: side.local, remoteTS: side.remote,
                        espProposals: esp.esp, ahProposals: esp.ah, lifeSeconds: esp.seconds, lifeBytes: esp.bytes,
                        startAction: startAction, reqid: reqid, mode: tunnel == nil ? "transport" : "tunnel"))
                reqid += 1
            }
        }
        guard !connection.children.isEmpty else { return }
        // A tunnel's peer is its endpoint, whatever the selectors hold.
        if let tunnel {
            (peers, anyPeer) = ([tunnel], false)
        }
        connection.remoteAddresses = anyPeer ? ["%any"] : peers.sorted()
        // A key is found by the peer's address; a certificate names its holder itself.
        if case .psk = connection.authentication {
            connection.remoteID = !anyPeer && peers.count == 1 ? peers.first : nil
        }
        if case .psk = connection.authentication, let key {
            let owners = connection.remoteID.map { [$0] } ?? []
            plan.secrets.append(Secret(id: "\(connection.name)-psk", key: key, owners: owners))
        }
        if answerOnly {
            plan.warnings.append(
                "\(c.origin): inpass/soft or inbound-only: rampart answers a peer that negotiates but does not start IKE itself (docs/ipsec.md)"
            )
        }
        plan.connections.append(connection)
    }

    /// The first usable method in the rule's order (its preference): a pre-shared key, or a root
    /// CA (certificates). strongSwan does not fall back from one method to another within a
    /// connection, so later methods are not offered (a warning says so). Kerberos needs Active
    /// Directory and is skipped.
    static func authentication(
        _ methods: [AuthMethod], where_: String, plan: inout IPsecPlan
    ) -> (Authentication, String?)? {
        var chosen: (Authentication, String?)?
        for method in methods {
            let this: (Authentication, String?)
            switch method {
            case .presharedKey(let k): this = (.psk, k)
            case .rootCA(let dn): this = (.certificate(ca: caName(dn)), nil)
            case .kerberos: continue
            }
            if let chosen {
                // `this.0.described`, not `method`: a pre-shared key is never written.
                plan.warnings.append(
                    "\(where_): \(this.0.described) not offered: only the first method (\(chosen.0.described)) is negotiated"
                )
            } else {
                chosen = this
            }
        }
        if let chosen {
            if methods.contains(.kerberos) {
                plan.warnings.append("\(where_): kerberos=yes not offered: no Active Directory")
            }
            return chosen
        }
        if methods.contains(.kerberos) {
            plan.refused.append(
                "\(where_): kerberos authentication needs Active Directory, which rampart does not have; give psk= or rootca="
            )
        } else {
            plan.refused.append("\(where_): no authentication method (psk= or rootca=)")
        }
        return nil
    }

    /// Windows writes `rootca="DN certmap:yes excludecaname:no"`: the options are not part of the
    /// CA's name (they have no counterpart in charon and are dropped).
    static func caName(_ text: String) -> String {
        var words = text.split(separator: " ", omittingEmptySubsequences: false)
        while let last = words.last,
            ["certmap:yes", "certmap:no", "excludecaname:yes", "excludecaname:no", ""].contains(last.lowercased())
        {
            words.removeLast()
        }
        return words.joined(separator: " ")
    }

    static let espCipher = [
        "DES": "des", "3DES": "3des", "AES128": "aes128", "AES192": "aes192", "AES256": "aes256", "None": "null"
    ]
    static let integrity = ["MD5": "md5", "SHA1": "sha1", "SHA256": "sha256"]

    /// netsh group numbers: 1 = 768-bit, 2 = 1024-bit, 3 = 2048-bit (Windows' own numbering, not IANA's 3).
    static func dhGroup(_ group: Int) -> String {
        switch group {
        case 1: return "modp768"
        case 2: return "modp1024"
        case 3, 14: return "modp2048"
        case 19: return "ecp256"
        case 20: return "ecp384"
        case 24: return "modp2048s256"
        default: return "modp1024"
        }
    }

    static func mainModeProposals(_ offers: [MainModeOffer]) -> [String] {
        guard !offers.isEmpty else { return ["default"] }
        return offers.map { o in
            let cipher = espCipher[o.confidentiality] ?? o.confidentiality.lowercased()
            let hash = integrity[o.hash] ?? o.hash.lowercased()
            return "\(cipher)-\(hash)-\(dhGroup(o.group))"
        }
    }

    /// One strongSwan proposal per netsh offer (IKEv1 takes one algorithm per kind per proposal);
    /// the lifetime is the first offer's (charon has one per CHILD_SA), Windows' 3,600 s by default.
    static func quickModeProposals(
        _ offers: [QuickModeOffer], pfs: Bool, group: Int?, where_: String, plan: inout IPsecPlan
    )
        -> (esp: [String], ah: [String], seconds: Int, bytes: Int?)
    {
        let dh = pfs ? "-" + dhGroup(group ?? 2) : ""
        guard !offers.isEmpty else { return (["default"], [], 3600, nil) }
        var esp: [String] = []
        var ah: [String] = []
        for offer in offers {
            switch (offer.ahHash, offer.espConfidentiality, offer.espIntegrity) {
            case (let h?, nil, _):
                guard let i = integrity[h] else { continue }
                ah.append(i + dh)
            case (nil, let c?, let i?):
                guard i != "None" else {
                    plan.warnings.append("\(where_): \(offer) skipped: ESP without integrity is not offered (RFC 8221)")
                    continue
                }
                guard let cipher = espCipher[c], let mac = integrity[i] else { continue }
                esp.append("\(cipher)-\(mac)" + dh)
            case (.some, .some, _):
                plan.warnings.append("\(where_): \(offer) skipped: strongSwan does not negotiate AH+ESP bundles")
            default:
                continue
            }
        }
        if !esp.isEmpty && !ah.isEmpty {
            plan.warnings.append("\(where_): AH offers skipped: a CHILD_SA is ESP or AH, and the ESP offers come first")
            ah = []
        }
        let first = offers.first
        return (esp, ah, first?.lifetimeSeconds ?? 3600, first?.lifetimeKilobytes.map { $0 * 1024 })
    }

    struct Selector {
        var local: String
        var remote: String
        var peer: String?
    }

    /// Traffic selectors `CIDR[proto/port]`; the side that is `me` is `dynamic` (this host's IKE address).
    static func selectors(_ f: Filter, id: String, plan: inout IPsecPlan) -> [Selector]? {
        func cidr(_ a: AddressSpec) -> (String, String?)?? {
            switch a {
            case .me: return .some(nil)
            case .any: return .some(("0.0.0.0/0,::/0", nil))
            case .subnet(let ip, let p):
                let text = "\(ip)/\(p)"
                return .some((text, p == ip.family.bits ? "\(ip)" : nil))
            case .range(let a, let b) where a == b: return .some(("\(a)/\(a.family.bits)", "\(a)"))
            default: return nil
            }
        }
        let localSide: AddressSpec, remoteSide: AddressSpec
        let localPort: PortMatch, remotePort: PortMatch
        if f.source.isMe || !f.destination.isMe {
            (localSide, remoteSide, localPort, remotePort) = (f.source, f.destination, f.sourcePort, f.destinationPort)
        } else {
            (localSide, remoteSide, localPort, remotePort) = (f.destination, f.source, f.destinationPort, f.sourcePort)
        }
        guard let l = cidr(localSide), let r = cidr(remoteSide) else {
            plan.refused.append(
                "\(id): negotiate needs literal addresses, me or any (server types, host names, ranges and groups are not negotiated yet)"
            )
            return nil
        }
        guard let remote = r else {
            plan.refused.append("\(id): both sides are me")
            return nil
        }
        if f.tcpFlags != nil {
            plan.warnings.append("\(id): the TCP-flags test is not part of the SA's selector")
        }
        let proto: String
        switch f.proto {
        case .any: proto = ""
        case .icmp: proto = "icmp"
        case .number(6): proto = "tcp"
        case .number(17): proto = "udp"
        case .number(let n): proto = String(n)
        }
        func items(_ p: PortMatch) -> [String] {
            if p.isAny { return [proto.isEmpty ? "" : "[\(proto)]"] }
            return p.ranges.map { r in
                "[\(proto)/\(r.lowerBound == r.upperBound ? "\(r.lowerBound)" : "\(r.lowerBound)-\(r.upperBound)")]"
            }
        }
        var out: [Selector] = []
        for lp in items(localPort) {
            for rp in items(remotePort) {
                let local = (l?.0 ?? "dynamic").split(separator: ",").map { $0 + lp }.joined(separator: ",")
                let rem = remote.0.split(separator: ",").map { $0 + rp }.joined(separator: ",")
                out.append(Selector(local: local, remote: rem, peer: remote.1))
            }
        }
        return out
    }
}

extension IPsecPlan.Authentication {
    var described: String {
        switch self {
        case .psk: return "psk"
        case .certificate(let ca): return "rootca=\"\(ca)\""
        }
    }
}
