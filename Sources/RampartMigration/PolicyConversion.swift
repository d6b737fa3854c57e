import RampartPolicy

/// §2.2.1.1–§2.2.1.4 → filter actions, policies with their main-mode settings, rules and
/// default response rules.
extension WindowsPolicyConversion {
    static let actions: [String: (FilterActionKind, inpass: Bool)] = [
        "{3F91A819-7647-11D1-864D-D46A00000000}": (.block, false),
        "{8A171DD2-77E3-11D1-8659-A04F00000000}": (.permit, false),
        "{8A171DD3-77E3-11D1-8659-A04F00000000}": (.negotiate, false),
        "{3F91A81A-7647-11D1-864D-D46A00000000}": (.negotiate, true)
    ]

    mutating func addFilterAction(_ o: WindowsPolicyObjects.Object) throws(Diagnostic) {
        let data = try Self.decoded(o) { b throws(BlobError) in try NegotiationData.decode(b) }
        report(o, leftover: data.leftover, reserved: data.reserved)
        let guid = o.attributes["ipsecnegotiationpolicyaction"] ?? "(none)"
        guard let (kind, inpass) = Self.actions[guid] else {
            throw .error(
                "\(Self.label(o)): ipsecNegotiationPolicyAction \(guid) is not block, permit, negotiate or inbound pass-through",
                at: o.location)
        }
        var a = FilterAction(
            name: name(o, fallback: "Filter action"), guid: o.guid, seq: store.filterActions.count + 1, action: kind)
        a.description = o.description ?? ""
        a.inpass = inpass
        if kind == .negotiate {
            let qm = try Self.quickMode(data, o)
            (a.qmsecmethods, a.soft, a.qmpfs) = (qm.offers, qm.soft, qm.pfs)
        }
        for (i, offer) in data.offers.enumerated() where offer.options != 0 {
            warn(
                "\(Self.label(o)): offer \(i + 1): Negotiation-Options \(offer.options) is not 0, as §2.2.1.4.1 says it must be: ignored",
                at: o.location)
        }
        store.filterActions.append(a)
    }

    /// The offers as netsh's `qmsecmethods`; an offer without algorithms is "fall back to
    /// unsecured communication" (`soft=yes`); PFS is read as 1 = on (see docs/migration.md).
    static func quickMode(
        _ data: NegotiationData, _ o: WindowsPolicyObjects.Object
    ) throws(Diagnostic)
        -> (offers: [QuickModeOffer], soft: Bool, pfs: Bool)
    {
        var offers: [QuickModeOffer] = []
        var soft = false
        for (i, offer) in data.offers.enumerated() {
            guard !offer.algorithms.isEmpty else {
                soft = true
                continue
            }
            var q = QuickModeOffer(
                lifetimeKilobytes: offer.lifetimeKB == 0 ? nil : Int(offer.lifetimeKB),
                lifetimeSeconds: offer.lifetimeSeconds == 0 ? nil : Int(offer.lifetimeSeconds))
            for a in offer.algorithms {
                switch (a.offerType, a.identifier) {
                case (1, 1) where q.ahHash == nil: q.ahHash = "MD5"
                case (1, 2) where q.ahHash == nil: q.ahHash = "SHA1"
                case (2, 1...3) where q.espConfidentiality == nil && a.integrity <= 2:
                    q.espConfidentiality = ["None", "DES", "3DES"][Int(a.identifier) - 1]
                    q.espIntegrity = ["None", "MD5", "SHA1"][Int(a.integrity)]
                default:
                    throw .error(
                        "\(label(o)): offer \(i + 1): algorithm \(a.identifier), integrity \(a.integrity), type \(a.offerType) is not one §2.2.1.4.1 gives (or repeats AH or ESP)",
                        at: o.location)
                }
            }
            guard !(q.espConfidentiality == "None" && q.espIntegrity == "None") else {
                throw .error("\(label(o)): offer \(i + 1) is ESP with neither encryption nor integrity", at: o.location)
            }
            offers.append(q)
        }
        return (offers, soft, data.offers.contains { $0.pfsRequired == 1 })
    }

    mutating func addPolicy(_ o: WindowsPolicyObjects.Object) throws(Diagnostic) {
        let data = try Self.decoded(o) { b throws(BlobError) in try PolicyData.decode(b) }
        report(o, leftover: data.leftover)
        var p = Policy(name: name(o, fallback: "Policy"), guid: o.guid, seq: store.policies.count + 1)
        p.description = o.description ?? ""
        p.pollingInterval = data.pollingInterval == 0 ? 10_800 : Int(data.pollingInterval)
        if let isakmp = object(.isakmp, o.references["ipsecisakmpreference"]?.first) {
            try mainMode(isakmp, &p)
        } else {
            warn(
                "\(Self.label(o)): its ipsecISAKMPPolicy is not in the file: netsh's main-mode defaults", at: o.location
            )
        }
        for guid in o.references["ipsecnfareference"] ?? [] {
            guard let nfa = object(.nfa, guid) else {
                warn("\(Self.label(o)): its rule ipsecNFA\(guid) is not in the file: not imported", at: o.location)
                continue
            }
            try addRule(nfa, to: &p)
        }
        store.policies.append(p)
    }
}
