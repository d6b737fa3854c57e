import RampartPolicy

/// §2.2.1.2.1 (main mode) and §2.2.1.3.1 (rules).
extension WindowsPolicyConversion {
    mutating func mainMode(_ o: WindowsPolicyObjects.Object, _ p: inout Policy) throws(Diagnostic) {
        let data = try Self.decoded(o) { b throws(BlobError) in try ISAKMPData.decode(b) }
        report(o, leftover: data.leftover, reserved: data.reserved)
        p.mmpfs = data.masterPFSRequired != 0
        p.qmpermm = Int(data.qmLimit)
        p.mmlifetime = data.mmLifetime == 0 ? 480 : Int((data.mmLifetime + 59) / 60)
        if data.mmLifetime % 60 != 0 {
            warn(
                "\(Self.label(o)): MM-Lifetime \(data.mmLifetime) s is not whole minutes: \(p.mmlifetime) min",
                at: o.location)
        }
        // New-DH-1…4 (DH group 2048, i.e. group 14) come first, then the Security-Methods.
        let fixed = [("DES", "MD5"), ("DES", "SHA1"), ("3DES", "MD5"), ("3DES", "SHA1")]
        var offers: [MainModeOffer] = []
        for code in data.newDH.prefix(while: { $0 != 0 }) {
            guard (1...4).contains(code) else {
                throw .error("\(Self.label(o)): New-DH value \(code) is not 0–4", at: o.location)
            }
            offers.append(
                MainModeOffer(confidentiality: fixed[Int(code) - 1].0, hash: fixed[Int(code) - 1].1, group: 14))
        }
        for (i, m) in data.methods.enumerated() {
            if (1...4).contains(m.randomFunction) {
                let f = fixed[Int(m.randomFunction) - 1]
                offers.append(MainModeOffer(confidentiality: f.0, hash: f.1, group: 14))
                continue
            }
            let groups: [UInt32: Int] = [1: 1, 2: 2, 0x1000_0001: 14]
            guard (1...3).contains(m.encryption), (1...2).contains(m.hash), let group = groups[m.oakleyGroup] else {
                throw .error(
                    "\(Self.label(o)): security method \(i + 1): encryption \(m.encryption), hash \(m.hash), group \(m.oakleyGroup) is not one §2.2.1.2.1 gives",
                    at: o.location)
            }
            offers.append(
                MainModeOffer(
                    confidentiality: m.encryption == 1 ? "DES" : "3DES", hash: m.hash == 1 ? "MD5" : "SHA1",
                    group: group))
        }
        p.mmsecmethods = offers
        methodFieldsWithoutCounterpart(o, data)
    }

    /// Fields of §2.2.1.2.1 that netsh's policy (and charon's connection) has no place for: said
    /// when they hold anything but what the policy-level fields already give.
    mutating func methodFieldsWithoutCounterpart(_ o: WindowsPolicyObjects.Object, _ data: ISAKMPData) {
        if data.options != 0 {
            warn(
                "\(Self.label(o)): ISAKMP-Options \(data.options) (certificate-to-account mapping, no certificate request) has no counterpart in rampart or charon: not imported",
                at: o.location)
        }
        for (i, m) in data.methods.enumerated() {
            var fields: [String] = []
            if m.qmLimit != 0 && m.qmLimit != data.qmLimit { fields.append("QM-Limit \(m.qmLimit)") }
            if m.lifetimeSeconds != 0 && m.lifetimeSeconds != data.mmLifetime {
                fields.append("Oakley-Lifetime-Secs \(m.lifetimeSeconds)")
            }
            if m.lifetimeKB != 0 { fields.append("Oakley-Lifetime-KB \(m.lifetimeKB)") }
            if m.pfsIdentityRequired != 0 && m.pfsIdentityRequired != data.masterPFSRequired {
                fields.append("PFS-Identity-Required \(m.pfsIdentityRequired)")
            }
            guard !fields.isEmpty else { continue }
            warn(
                "\(Self.label(o)): security method \(i + 1): \(fields.joined(separator: ", ")): netsh has these once per policy (qmpermm, mmlifetime, mmpfs), taken from the policy's own fields",
                at: o.location)
        }
    }

    mutating func addRule(_ o: WindowsPolicyObjects.Object, to p: inout Policy) throws(Diagnostic) {
        let data = try Self.decoded(o) { b throws(BlobError) in try NFAData.decode(b) }
        report(o, leftover: data.leftover, reserved: data.reserved)
        if !data.interfaceName.isEmpty {
            warn(
                "\(Self.label(o)): Interface-Name \(data.interfaceName) is not carried over (rampart's rules follow conntype)",
                at: o.location)
        }
        if !data.tunnelEndpointName.isEmpty {
            warn(
                "\(Self.label(o)): Tunnel-End-Point-Name \(data.tunnelEndpointName) is not carried over: the tunnel is its address (Tunnel-Address)",
                at: o.location)
        }
        let auths = try Self.authMethods(data, o)
        guard let action = object(.negotiation, o.references["ipsecnegotiationpolicyreference"]?.first) else {
            warn(
                "\(Self.label(o)): its filter action (ipsecNegotiationPolicyReference) is not in the file: the rule is not imported",
                at: o.location)
            return
        }
        if action.attributes["ipsecnegotiationpolicytype"] == Self.defaultResponseType {
            let qm = try Self.quickMode(
                try Self.decoded(action) { b throws(BlobError) in try NegotiationData.decode(b) }, action)
            p.defaultRule.active = data.isActive != 0
            (p.defaultRule.qmsecmethods, p.defaultRule.qmpfs, p.defaultRule.authMethods) = (qm.offers, qm.pfs, auths)
            return
        }
        let lists = o.references["ipsecfilterreference"] ?? []
        guard let list = object(.filter, lists.first), let listName = names[.filter]?[list.guid] else {
            warn(
                "\(Self.label(o)): its filter list (ipsecFilterReference) is not in the file: the rule is not imported",
                at: o.location)
            return
        }
        if lists.count > 1 {
            warn("\(Self.label(o)): \(lists.count) filter lists; a rule takes one: \(listName) only", at: o.location)
        }
        var r = Rule(
            id: p.nextRuleID, name: ruleName(o, p), seq: p.nextRuleID, filterList: listName,
            filterAction: names[.negotiation]?[action.guid] ?? "")
        r.description = o.description ?? ""
        r.active = data.isActive != 0
        r.authMethods = auths
        r.connectionType = try Self.connectionType(data.interfaceType, o)
        r.tunnel = Self.tunnel(data)
        p.rules.append(r)
        p.nextRuleID += 1
    }

    func ruleName(_ o: WindowsPolicyObjects.Object, _ p: Policy) -> String {
        let base = (o.name?.isEmpty == false ? o.name! : "Rule \(p.rules.count + 1)").map { $0 == "\"" ? "'" : $0 }
        var name = String(base), n = 2
        while p.rules.contains(where: { $0.name.lowercased() == name.lowercased() }) {
            name = "\(String(base)) (\(n))"
            n += 1
        }
        return name
    }

    static func authMethods(_ data: NFAData, _ o: WindowsPolicyObjects.Object) throws(Diagnostic) -> [AuthMethod] {
        var out: [AuthMethod] = []
        for a in data.auths {
            switch a.type {
            case 1: out.append(.presharedKey(a.value))
            case 3: out.append(.rootCA(a.value))
            case 5: out.append(.kerberos)
            default: throw .error("\(label(o)): Auth-Type \(a.type) is not 1, 3 or 5", at: o.location)
            }
        }
        return out
    }

    static func connectionType(_ type: UInt32, _ o: WindowsPolicyObjects.Object) throws(Diagnostic) -> ConnectionType {
        switch type {
        case 0xFFFF_FFFD: return .all
        case 0xFFFF_FFFE: return .lan
        case 0xFFFF_FFFF: return .dialup
        default: throw .error("\(label(o)): Interface-Type \(type) is not dial-up, LAN or all", at: o.location)
        }
    }

    /// The IPv6 endpoint of the tail supersedes the IPv4 Tunnel-Address (§2.2.1.3.1).
    static func tunnel(_ data: NFAData) -> AddressSpec? {
        guard data.isTunnel != 0 else { return nil }
        if let v6 = data.ipv6Tunnel, v6.count == 16 {
            return .subnet(.v6(v6.reduce(0) { $0 << 8 | UInt128($1) }), prefix: 128)
        }
        return .subnet(.v4(data.tunnelAddress), prefix: 32)
    }

    /// Rules no policy references cannot be netsh rules.
    mutating func warnOrphans() {
        let referenced = Set(objects(.policy).flatMap { $0.references["ipsecnfareference"] ?? [] })
        for nfa in objects(.nfa) where !referenced.contains(nfa.guid) {
            warn("\(Self.label(nfa)): no policy in the file has this rule: not imported", at: nfa.location)
        }
    }
}
