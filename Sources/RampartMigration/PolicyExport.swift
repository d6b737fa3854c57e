import RampartPolicy

/// Filter actions, policies, main mode, rules and default responses as §2.2.1.1–§2.2.1.4 hold them.
extension WindowsPolicyExport {
    static let actionGUID: [FilterActionKind: String] = [
        .block: "{3F91A819-7647-11D1-864D-D46A00000000}", .permit: "{8A171DD2-77E3-11D1-8659-A04F00000000}",
        .negotiate: "{8A171DD3-77E3-11D1-8659-A04F00000000}"
    ]
    static let passThrough = "{3F91A81A-7647-11D1-864D-D46A00000000}"
    static let standard = "{62F49E10-6C37-11D1-864C-14A300000000}"

    mutating func add(_ a: FilterAction) throws(Diagnostic) {
        let label = "filter action '\(a.name)'"
        var o = object(
            .negotiation, Self.guid(a.guid), a.name, a.description,
            try Self.negotiation(a.qmsecmethods, pfs: a.qmpfs, soft: a.soft, label).encode())
        o.attributes = [
            "ipsecnegotiationpolicyaction": a.action == .negotiate && a.inpass
                ? Self.passThrough : Self.actionGUID[a.action]!,
            "ipsecnegotiationpolicytype": Self.standard
        ]
        out.objects.append(o)
    }

    /// The offers; `soft` is an offer without algorithms; PFS is 1 on every offer (docs/migration.md).
    static func negotiation(
        _ offers: [QuickModeOffer], pfs: Bool, soft: Bool, _ label: String
    ) throws(Diagnostic)
        -> NegotiationData
    {
        var out: [NegotiationData.Offer] = []
        for q in offers {
            var algorithms: [NegotiationData.Offer.Algorithm] = []
            if let h = q.ahHash {
                guard let id = ["MD5": UInt32(1), "SHA1": 2][h] else { throw refuse(label, "AH[\(h)]") }
                algorithms.append(.init(identifier: id, integrity: 0, offerType: 1))
            }
            if let c = q.espConfidentiality, let i = q.espIntegrity {
                guard let cid = ["None": UInt32(1), "DES": 2, "3DES": 3][c],
                    let iid = ["None": UInt32(0), "MD5": 1, "SHA1": 2][i]
                else { throw refuse(label, "ESP[\(c),\(i)]") }
                algorithms.append(.init(identifier: cid, integrity: iid, offerType: 2))
            }
            out.append(
                .init(
                    lifetimeSeconds: UInt32(q.lifetimeSeconds ?? 0), lifetimeKB: UInt32(q.lifetimeKilobytes ?? 0),
                    pfsRequired: pfs ? 1 : 0, algorithms: algorithms))
        }
        if soft { out.append(.init(lifetimeSeconds: 0, lifetimeKB: 0, pfsRequired: pfs ? 1 : 0, algorithms: [])) }
        return NegotiationData(offers: out)
    }

    mutating func add(_ p: Policy, _ store: PolicyStore) throws(Diagnostic) {
        let guid = Self.guid(p.guid), isakmp = Self.derived(p.guid, "isakmp")
        var nfas: [String] = []
        for r in p.rules { nfas.append(try add(r, of: p, guid, store)) }
        nfas.append(try addDefault(p, guid))
        var policy = object(
            .policy, guid, p.name, p.description, PolicyData(pollingInterval: UInt32(p.pollingInterval)).encode())
        policy.references = ["ipsecisakmpreference": [isakmp], "ipsecnfareference": nfas]
        var mm = object(.isakmp, isakmp, "", nil, try Self.mainMode(p, isakmp).encode())
        mm.references = ["ipsecownersreference": [guid]]
        out.objects += [policy, mm]
        if p.assigned { out.activePolicy = guid }
    }

    static func mainMode(_ p: Policy, _ guid: String) throws(Diagnostic) -> ISAKMPData {
        var methods: [ISAKMPData.Method] = []
        for m in p.mmsecmethods {
            guard let e = ["DES": UInt64(1), "3DES": 2][m.confidentiality],
                let h = ["MD5": UInt64(1), "SHA1": 2][m.hash],
                let g = [1: UInt32(1), 2: 2, 14: 0x1000_0001][m.group]
            else { throw refuse("policy '\(p.name)'", "the main-mode method \(m)") }
            methods.append(.init(encryption: e, hash: h, oakleyGroup: g))
        }
        return ISAKMPData(
            instance: guid, masterPFSRequired: p.mmpfs ? 1 : 0, qmLimit: UInt32(p.qmpermm),
            mmLifetime: UInt32(p.mmlifetime * 60), methods: methods)
    }

    /// A rule as an ipsecNFA; its GUID.
    mutating func add(_ r: Rule, of p: Policy, _ policy: String, _ store: PolicyStore) throws(Diagnostic) -> String {
        let label = "rule '\(r.name)' of policy '\(p.name)'"
        if r.schedule != nil { throw Self.refuse(label, "the rule follows a schedule") }
        guard let list = store.filterLists.first(where: { $0.name.lowercased() == r.filterList.lowercased() }),
            let action = store.filterActions.first(where: { $0.name.lowercased() == r.filterAction.lowercased() })
        else { throw .error("\(label): its filter list or filter action is missing from the store", at: nil) }
        let guid = Self.derived(p.guid, "rule \(r.id)")
        var data = NFAData(
            auths: Self.auths(r.authMethods), interfaceType: Self.interfaceTypes[r.connectionType]!,
            isActive: r.active ? 1 : 0)
        try Self.setTunnel(r.tunnel, &data, label)
        var o = object(.nfa, guid, r.name, r.description, data.encode())
        o.references = [
            "ipsecfilterreference": [Self.guid(list.guid)], "ipsecnegotiationpolicyreference": [Self.guid(action.guid)],
            "ipsecownersreference": [policy]
        ]
        out.objects.append(o)
        return guid
    }

    static let interfaceTypes: [ConnectionType: UInt32] = [.all: 0xFFFF_FFFD, .lan: 0xFFFF_FFFE, .dialup: 0xFFFF_FFFF]

    static func auths(_ methods: [AuthMethod]) -> [NFAData.Auth] {
        methods.map { m in
            switch m {
            case .kerberos: return .init(type: 5, value: "")
            case .presharedKey(let k): return .init(type: 1, value: k)
            case .rootCA(let c): return .init(type: 3, value: c)
            }
        }
    }

    static func setTunnel(_ t: AddressSpec?, _ data: inout NFAData, _ label: String) throws(Diagnostic) {
        switch t {
        case nil: return
        case .subnet(.v4(let x), 32)?: data.tunnelAddress = x
        case .subnet(.v6(let x), 128)?:
            data.ipv6Tunnel = (0..<16).map { UInt8(truncatingIfNeeded: x >> (120 - 8 * $0)) }
        default: throw refuse(label, "the tunnel endpoint \(t!)")
        }
        data.isTunnel = 1
    }

    /// The default response rule: an ipsecNFA without a filter list and its own negotiation
    /// policy of the default-response type.
    mutating func addDefault(_ p: Policy, _ policy: String) throws(Diagnostic) -> String {
        let d = p.defaultRule
        let nfa = Self.derived(p.guid, "default response"), action = Self.derived(p.guid, "default response action")
        var negotiation = object(
            .negotiation, action, "", nil,
            try Self.negotiation(
                d.qmsecmethods, pfs: d.qmpfs, soft: false, "the default response rule of policy '\(p.name)'"
            ).encode())
        negotiation.attributes = [
            "ipsecnegotiationpolicyaction": Self.actionGUID[.negotiate]!,
            "ipsecnegotiationpolicytype": WindowsPolicyConversion.defaultResponseType
        ]
        var o = object(
            .nfa, nfa, "", nil,
            NFAData(auths: Self.auths(d.authMethods), interfaceType: 0xFFFF_FFFD, isActive: d.active ? 1 : 0).encode())
        o.references = ["ipsecnegotiationpolicyreference": [action], "ipsecownersreference": [policy]]
        out.objects += [negotiation, o]
        return nfa
    }
}
