import RampartPolicy

/// A store's objects as Windows' policy objects ([MS-GPIPSEC] §2.2.1), for a `.reg` Windows
/// imports (`reg import`): each filter list an ipsecFilter (the legacy filters, and the V2 section
/// when a filter needs ranges or IPv6), each filter action an ipsecNegotiationPolicy, each policy an
/// ipsecPolicy with its ipsecISAKMPPolicy, its rules and its default response rule as ipsecNFA.
/// What Windows cannot hold (rampart's extensions, AES and SHA-256, host names) is refused,
/// naming the object.
public struct WindowsPolicyExport {
    var out = WindowsPolicyObjects()
    let now: UInt32

    public static func objects(_ store: PolicyStore, now: UInt32) throws(Diagnostic) -> WindowsPolicyObjects {
        var e = WindowsPolicyExport(now: now)
        for list in store.filterLists { try e.add(list) }
        for action in store.filterActions { try e.add(action) }
        for policy in store.policies { try e.add(policy, store) }
        return e.out
    }

    /// The store's GUIDs upper case, as Windows writes them; objects the store has no GUID for
    /// (ISAKMP, rules, default responses) get one derived from their owner's, the same every time.
    static func guid(_ text: String) -> String {
        WindowsPolicyObjects.canonicalGUID(Substring(text)) ?? derived(text, "")
    }

    static func derived(_ owner: String, _ salt: String) -> String {
        // FNV-1a, twice with different offsets: 16 bytes that follow the owner and the salt.
        func fnv(_ seed: UInt64) -> UInt64 {
            (owner + "/" + salt).utf8.reduce(seed) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
        }
        let hex =
            String(fnv(0xcbf2_9ce4_8422_2325), radix: 16).leftPadded(16)
            + String(fnv(0x8422_2325_cbf2_9ce4), radix: 16).leftPadded(16)
        let h = Array(hex.uppercased())
        return
            "{\(String(h[0..<8]))-\(String(h[8..<12]))-\(String(h[12..<16]))-\(String(h[16..<20]))-\(String(h[20..<32]))}"
    }

    func object(
        _ c: WindowsPolicyObjects.ObjectClass, _ guid: String, _ name: String, _ description: String?, _ data: [UInt8]
    ) -> WindowsPolicyObjects.Object {
        var o = WindowsPolicyObjects.Object(
            objectClass: c, guid: guid, location: SourceLocation(file: "", line: 0, column: 0))
        (o.name, o.description, o.dataType, o.data, o.whenChanged) = (name, description, 256, data, String(now))
        return o
    }

    mutating func add(_ list: FilterList) throws(Diagnostic) {
        let label = "filter list '\(list.name)'"
        var legacy: [FilterData.Legacy] = []
        var v2: [FilterData.V2] = []
        var needsV2 = false
        for (i, f) in list.filters.enumerated() {
            let id = Self.derived(list.guid, "filter \(i)")
            if let l = try Self.legacy(f, id, label) { legacy.append(l) } else { needsV2 = true }
            v2.append(try Self.v2(f, id, label))
        }
        let data = FilterData(legacy: legacy, v2: needsV2 ? v2 : nil)
        out.objects.append(object(.filter, Self.guid(list.guid), list.name, list.description, data.encode()))
    }
}
