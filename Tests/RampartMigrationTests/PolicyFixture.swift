import Foundation
import RampartMigration
import RampartPolicy

/// A whole Windows policy built from the specification's fields (issue 32): three filter lists
/// (one with the V2 section: a range and an IPv6 prefix), four filter actions (permit, block,
/// negotiate with a soft offer, inbound pass-through), the default response, main mode, three
/// rules (LAN-only, dial-up with a tunnel, one inactive) and the assignment.
enum PolicyFixture {
    static let policy = "{E514E247-80C3-429A-8D69-74BD54FEB31E}"
    static let isakmp = "{12A63239-DFB6-4F7A-9E84-FEA90E81202A}"
    static let web = "{2FE2FD79-0389-4D6C-8794-55C4D444DB31}", dns = "{2FE2FD79-0389-4D6C-8794-55C4D444DB32}",
        admin = "{2FE2FD79-0389-4D6C-8794-55C4D444DB33}"
    static let permit = "{72385233-70FA-11D1-864C-14A300000001}", block = "{72385233-70FA-11D1-864C-14A300000002}",
        secure = "{72385233-70FA-11D1-864C-14A300000003}", pass = "{72385233-70FA-11D1-864C-14A300000004}",
        response = "{72385233-70FA-11D1-864C-14A300000005}", legacyOffers = "{72385233-70FA-11D1-864C-14A300000006}"
    static let nfaWeb = "{116CA92D-D536-4A44-BDCE-17D8363ED941}", nfaDNS = "{116CA92D-D536-4A44-BDCE-17D8363ED942}",
        nfaAdmin = "{116CA92D-D536-4A44-BDCE-17D8363ED943}", nfaDefault = "{116CA92D-D536-4A44-BDCE-17D8363ED944}"

    static func object(
        _ c: WindowsPolicyObjects.ObjectClass, _ guid: String, _ name: String?, _ data: [UInt8],
        description: String? = nil, references: [String: [String]] = [:], attributes: [String: String] = [:]
    ) -> WindowsPolicyObjects.Object {
        var o = WindowsPolicyObjects.Object(
            objectClass: c, guid: guid, location: SourceLocation(file: "t", line: 1, column: 1))
        (o.name, o.description, o.dataType, o.data, o.whenChanged) = (name, description, 256, data, "1165238076")
        (o.references, o.attributes) = (references, attributes)
        return o
    }

    static func legacy(
        _ id: Int, _ source: UInt32, _ mask: UInt32, _ dest: UInt32, _ dmask: UInt32, proto: UInt32, port: UInt16,
        special: UInt8 = 0, description: String = ""
    ) -> FilterData.Legacy {
        FilterData.Legacy(
            description: description, id: String(format: "{00000000-0000-0000-0000-%012X}", id), mirrored: 1,
            source: source,
            sourceMask: mask, destination: dest, destinationMask: dmask, proto: proto, sourcePort: 0,
            destinationPort: port,
            special: special)
    }

    static func v2(
        _ id: Int, source: FilterData.V2.Address, destination: FilterData.V2.Address, port: UInt16
    ) -> FilterData.V2 {
        .init(
            description: "", id: String(format: "{00000000-0000-0000-0000-%012X}", id), mirrored: 1,
            source: source, destination: destination, sourcePort: .init(type: 0),
            destinationPort: .init(type: 1, port: port), proto: 17)
    }

    static var filters: [WindowsPolicyObjects.Object] {
        let webData = FilterData(legacy: [
            legacy(1, 0, 0, 0, 0xFFFF_FFFF, proto: 6, port: 80, description: "HTTP"),
            legacy(2, 0, 0, 0, 0xFFFF_FFFF, proto: 6, port: 443)
        ])
        // Every special server type (Legacy-Special-Filter 1–4: as the source; 0x81–0x84: as the
        // destination), the other side this host.
        let dnsData = FilterData(legacy: [
            legacy(3, 0, 0xFFFF_FFFF, 0, 0, proto: 17, port: 53, special: 0x81),
            legacy(7, 0, 0, 0, 0xFFFF_FFFF, proto: 17, port: 0, special: 1),
            legacy(8, 0, 0, 0, 0xFFFF_FFFF, proto: 17, port: 137, special: 2),
            legacy(9, 0, 0, 0, 0xFFFF_FFFF, proto: 17, port: 68, special: 3),
            legacy(10, 0, 0, 0, 0xFFFF_FFFF, proto: 1, port: 0, special: 4),
            legacy(11, 0, 0xFFFF_FFFF, 0, 0, proto: 17, port: 137, special: 0x82),
            legacy(12, 0, 0xFFFF_FFFF, 0, 0, proto: 17, port: 67, special: 0x83),
            legacy(13, 0, 0xFFFF_FFFF, 0, 0, proto: 1, port: 0, special: 0x84)
        ])
        var adminData = FilterData(legacy: [legacy(4, 0xC633_640A, 0xFFFF_FFFF, 0, 0xFFFF_FFFF, proto: 6, port: 3389)])
        let v6: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 12)
        func pad(_ b: [UInt8]) -> [UInt8] { b + [UInt8](repeating: 0, count: 16 - b.count) }
        adminData.v2 = [
            .init(
                description: "jump hosts", id: "{00000000-0000-0000-0000-000000000005}", mirrored: 1,
                source: .init(
                    type: 2, version: 1, address: pad([198, 51, 100, 10]), secondary: pad([198, 51, 100, 20])),
                destination: .init(type: 8, version: 3), sourcePort: .init(type: 0),
                destinationPort: .init(type: 1, port: 3389),
                proto: 6, flags: 8),
            .init(
                description: "", id: "{00000000-0000-0000-0000-000000000006}", mirrored: 1,
                source: .init(type: 4, version: 2, address: v6, secondary: pad([64])),
                destination: .init(type: 8, version: 3),
                sourcePort: .init(type: 0), destinationPort: .init(type: 2, port: 22, end: 23), proto: 6),
            // V2's server types (0x10 DNS … 0x80 gateway, both families) against this host; any and
            // one address.
            v2(0x14, source: .init(type: 0x10, version: 3), destination: .init(type: 8, version: 3), port: 53),
            v2(0x15, source: .init(type: 8, version: 3), destination: .init(type: 0x40, version: 3), port: 67),
            v2(0x16, source: .init(type: 0x20, version: 3), destination: .init(type: 8, version: 3), port: 137),
            v2(0x17, source: .init(type: 8, version: 3), destination: .init(type: 0x80, version: 3), port: 123),
            v2(
                0x18, source: .init(type: 0, version: 3),
                destination: .init(type: 1, version: 1, address: pad([203, 0, 113, 5])), port: 25)
        ]
        return [
            object(
                .filter, web, "Web In", webData.encode(), description: "HTTP and HTTPS",
                references: ["ipsecownersreference": [nfaWeb]]),
            object(.filter, dns, "DNS Out", dnsData.encode(), references: ["ipsecownersreference": [nfaDNS]]),
            object(.filter, admin, "Admin", adminData.encode(), references: ["ipsecownersreference": [nfaAdmin]])
        ]
    }

    static let actionGUIDs = (
        block: "{3F91A819-7647-11D1-864D-D46A00000000}", permit: "{8A171DD2-77E3-11D1-8659-A04F00000000}",
        secure: "{8A171DD3-77E3-11D1-8659-A04F00000000}", pass: "{3F91A81A-7647-11D1-864D-D46A00000000}",
        standard: "{62F49E10-6C37-11D1-864C-14A300000000}", response: "{62F49E13-6C37-11D1-864C-14A300000000}"
    )

    static var actions: [WindowsPolicyObjects.Object] {
        let g = actionGUIDs
        func action(
            _ guid: String, _ name: String, _ kind: String, _ offers: [NegotiationData.Offer], type: String? = nil
        ) -> WindowsPolicyObjects.Object {
            object(
                .negotiation, guid, name, NegotiationData(offers: offers).encode(),
                attributes: ["ipsecnegotiationpolicyaction": kind, "ipsecnegotiationpolicytype": type ?? g.standard])
        }
        let esp = NegotiationData.Offer(
            lifetimeSeconds: 3600, lifetimeKB: 100_000, pfsRequired: 1,
            algorithms: [.init(identifier: 3, integrity: 2, offerType: 2)])
        let ah = NegotiationData.Offer(
            lifetimeSeconds: 0, lifetimeKB: 0, pfsRequired: 1,
            algorithms: [
                .init(identifier: 2, integrity: 0, offerType: 1), .init(identifier: 2, integrity: 1, offerType: 2)
            ])
        let clear = NegotiationData.Offer(lifetimeSeconds: 0, lifetimeKB: 0, pfsRequired: 0, algorithms: [])
        return [
            action(permit, "Permit", g.permit, []), action(block, "Block", g.block, []),
            action(secure, "Secure", g.secure, [esp, ah, clear]), action(pass, "", g.pass, [esp]),
            action(response, "", g.secure, [esp], type: g.response),
            // The algorithm values the other offers do not use: AH MD5, ESP without encryption,
            // ESP without integrity.
            action(
                legacyOffers, "Legacy offers", g.secure,
                [
                    .init(
                        lifetimeSeconds: 900, lifetimeKB: 0, pfsRequired: 0,
                        algorithms: [.init(identifier: 1, integrity: 0, offerType: 1)]),
                    .init(
                        lifetimeSeconds: 0, lifetimeKB: 50_000, pfsRequired: 0,
                        algorithms: [.init(identifier: 1, integrity: 2, offerType: 2)]),
                    .init(
                        lifetimeSeconds: 0, lifetimeKB: 0, pfsRequired: 0,
                        algorithms: [.init(identifier: 2, integrity: 0, offerType: 2)])
                ])
        ]
    }

    static var rules: [WindowsPolicyObjects.Object] {
        func nfa(
            _ guid: String, _ name: String, _ data: NFAData, list: String?, action: String
        ) -> WindowsPolicyObjects.Object {
            var refs = ["ipsecnegotiationpolicyreference": [action], "ipsecownersreference": [policy]]
            if let list { refs["ipsecfilterreference"] = [list] }
            return object(.nfa, guid, name, data.encode(), references: refs)
        }
        let kerberos = NFAData.Auth(type: 5, value: "")
        return [
            nfa(
                nfaWeb, "Web", NFAData(auths: [kerberos], interfaceType: 0xFFFF_FFFD, isActive: 1), list: web,
                action: permit),
            nfa(
                nfaDNS, "DNS", NFAData(auths: [kerberos], interfaceType: 0xFFFF_FFFE, isActive: 1), list: dns,
                action: permit),
            nfa(
                nfaAdmin, "Admin in",
                NFAData(
                    auths: [.init(type: 1, value: "s3cret"), .init(type: 3, value: "CN=Contoso Root")],
                    interfaceType: 0xFFFF_FFFF,
                    tunnelAddress: 0xCB00_7101, isTunnel: 1, isActive: 0),
                list: admin, action: secure),
            nfa(
                nfaDefault, "", NFAData(auths: [kerberos], interfaceType: 0xFFFF_FFFD, isActive: 0), list: nil,
                action: response)
        ]
    }

    static var objects: WindowsPolicyObjects {
        var o = WindowsPolicyObjects()
        // Every encryption, hash and group value, a Random-Function and a New-DH offer.
        let mm = ISAKMPData(
            instance: isakmp, newDH: [4, 0, 0, 0], qmLimit: 0, mmLifetime: 28_800,
            methods: [
                .init(encryption: 2, hash: 2, oakleyGroup: 2), .init(encryption: 1, hash: 1, oakleyGroup: 1),
                .init(encryption: 3, hash: 2, oakleyGroup: 0x1000_0001),
                .init(encryption: 0, hash: 0, randomFunction: 2, oakleyGroup: 0)
            ])
        o.objects =
            [
                object(
                    .policy, policy, "Web Server", PolicyData(pollingInterval: 0).encode(), description: "from the MMC",
                    references: [
                        "ipsecisakmpreference": [isakmp], "ipsecnfareference": [nfaWeb, nfaDNS, nfaAdmin, nfaDefault]
                    ]),
                object(.isakmp, isakmp, "", mm.encode(), references: ["ipsecownersreference": [policy]])
            ] + filters + actions + rules
        o.activePolicy = policy
        return o
    }
}

extension PolicyFixture {
    static let domain = "CN=IP Security,CN=System,DC=contoso,DC=com"

    /// The objects as `ldifde -f` writes them: one record each, ipsecData in base64, references
    /// as DNs, and the GPO object that assigns the policy.
    static var ldif: String {
        var out = "version: 1\n"
        for o in objects.objects {
            out += "\ndn: CN=\(o.objectClass.rawValue)\(o.guid),\(domain)\nchangetype: add\n"
            out += "objectClass: top\nobjectClass: ipsecBase\nobjectClass: \(o.objectClass.rawValue)\n"
            if let name = o.name { out += "ipsecName: \(name)\n" }
            if let d = o.description { out += "description: \(d)\n" }
            out += "ipsecID: \(o.guid)\nipsecDataType: 256\n"
            out += "ipsecData:: \(Data(o.data ?? []).base64EncodedString())\n"
            out += "whenChanged: 20061204121314.0Z\n"
            for (key, value) in o.attributes.sorted(by: { $0.key < $1.key }) { out += "\(key): \(value)\n" }
            for (key, guids) in o.references.sorted(by: { $0.key < $1.key }) {
                for g in guids {
                    let c = objects.objects.first { $0.guid == g }?.objectClass.rawValue ?? "ipsecPolicy"
                    out += "\(key): CN=\(c)\(g),\(domain)\n"
                }
            }
        }
        out +=
            "\ndn: CN=ipsec,CN=Windows,CN=Microsoft,CN=Machine,CN={31B2F340-016D-11D2-945F-00C04FB984F9},CN=Policies,CN=System,DC=contoso,DC=com\n"
        out += "objectClass: ipsecPolicy\nipsecOwnersReference: CN=ipsecPolicy\(policy),\(domain)\n"
        return out
    }
}

extension PolicyFixture {
    /// The objects as a hardening script writes them: `reg add` lines (a variable for the key,
    /// REG_MULTI_SZ joined by `\0`, redirections), after a `reg delete` that clears the store, and
    /// an object added and deleted again on the way.
    static var regAddBatch: String {
        let key = "%KEY%"
        let local = "SOFTWARE\\Policies\\Microsoft\\Windows\\IPSec\\Policy\\Local"
        func add(_ path: String, _ name: String, _ type: String, _ data: String) -> String {
            "reg add \"\(path)\" /v \(name) /t \(type) /d \"\(data)\" /f >nul"
        }
        var lines = [
            "@echo off", "rem Windows' IPsec policy store as reg add lines",
            "set KEY=HKLM\\\(local)", "reg delete \"\(key)\" /f >nul 2>&1"
        ]
        let o = objects
        for object in o.objects {
            let path = "\(key)\\\(object.objectClass.rawValue)\(object.guid)"
            if let name = object.name { lines.append(add(path, "ipsecName", "REG_SZ", name)) }
            if let d = object.description { lines.append(add(path, "description", "REG_SZ", d)) }
            lines.append(add(path, "ipsecID", "REG_SZ", object.guid))
            lines.append(add(path, "ipsecDataType", "REG_DWORD", "0x" + String(object.dataType ?? 256, radix: 16)))
            if let data = object.data {
                lines.append(
                    add(
                        path, "ipsecData", "REG_BINARY",
                        data.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()))
            }
            if let t = object.whenChanged { lines.append(add(path, "whenChanged", "REG_DWORD", t)) }
            for (name, value) in object.attributes.sorted(by: { $0.key < $1.key }) {
                lines.append(add(path, name, "REG_SZ", value))
            }
            for (name, guids) in object.references.sorted(by: { $0.key < $1.key }) {
                let paths = guids.map { g in
                    "\(local)\\\(o.objects.first { $0.guid == g }?.objectClass.rawValue ?? "ipsecPolicy")\(g)"
                }
                let single = name == "ipsecnegotiationpolicyreference" || name == "ipsecisakmpreference"
                lines.append(
                    add(path, name, single ? "REG_SZ" : "REG_MULTI_SZ", paths.joined(separator: "\\0")))
            }
        }
        let stale = "\(key)\\ipsecFilter{00000000-0000-0000-0000-00000000DEAD}"
        lines.append(add(stale, "ipsecName", "REG_SZ", "stale"))
        lines.append("reg delete \"\(stale)\" /f")
        lines.append(add(key, "ActivePolicy", "REG_SZ", "\(local)\\ipsecPolicy\(o.activePolicy!)"))
        return lines.joined(separator: "\r\n") + "\r\n"
    }
}
