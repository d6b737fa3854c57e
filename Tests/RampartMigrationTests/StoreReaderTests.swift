import Foundation
import RampartMigration
import RampartPolicy
import Testing

/// Windows' policy stores read into their objects (issue 32, item 1): a regedit export in both
/// versions with every value form, and an LDIF export with base64 blobs, folded lines and the GPO
/// assignment. The blobs themselves are decoded elsewhere.
@Suite struct StoreReaderTests {
    static let policy = "{6A1E5C3F-72B7-11D2-ACF0-0260B025CAFE}"
    static let nfa = "{11BBAC01-498D-11D1-8639-00A0248D3021}"
    static let filter = "{7F1B2C3D-1111-4222-8333-944455556666}"
    static let local = "SOFTWARE\\Policies\\Microsoft\\Windows\\IPSec\\Policy\\Local"

    /// `hex(7):` of strings as regedit writes a REG_MULTI_SZ: UTF-16LE, each NUL-ended, one more NUL.
    static func multiString(_ strings: [String]) -> String {
        var units: [UInt16] = []
        for s in strings { units += Array(s.utf16) + [0] }
        units.append(0)
        var bytes: [String] = []
        for u in units { bytes += [String(format: "%02x", u & 0xff), String(format: "%02x", u >> 8)] }
        return "hex(7):" + bytes.joined(separator: ",")
    }

    static var export: String {
        """
        Windows Registry Editor Version 5.00

        ; a hardening bundle: unrelated keys come first
        [HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System]
        "EnableLUA"=dword:00000001

        [HKEY_LOCAL_MACHINE\\\(local)]
        "ActivePolicy"="\(local.replacingOccurrences(of: "\\", with: "\\\\"))\\\\ipsecPolicy\(policy)"

        [HKEY_LOCAL_MACHINE\\\(local)\\ipsecFilter\(filter)]
        "ipsecName"="Web \\"In\\""
        "description"="HTTP, HTTPS"
        "ipsecID"="\(filter)"
        "ipsecDataType"=dword:00000100
        "ipsecData"=hex:b5,20,dc,80,c8,2e,d1,11,a8,9e,00,a0,24,8d,30,21,04,00,00,00,\\
          01,02,03,04
        "whenChanged"=dword:45744f3c
        "ipsecOwnersReference"=\(multiString(["\(local)\\ipsecNFA\(nfa)"]))

        [HKEY_LOCAL_MACHINE\\\(local)\\ipsecNFA\(nfa)]
        "ipsecName"=""
        "ipsecFilterReference"=\(multiString(["\(local)\\ipsecFilter\(filter)"]))
        "ipsecNegotiationPolicyReference"="\(local.replacingOccurrences(of: "\\", with: "\\\\"))\\\\ipsecNegotiationPolicy{80DC20B9-2EC8-11D1-A89E-00A0248D3021}"
        "ipsecFuture"=hex(3):00

        [HKEY_LOCAL_MACHINE\\\(local)\\ipsecFilter{00000000-1111-2222-3333-444444444444}]
        "ipsecName"="gone"

        [-HKEY_LOCAL_MACHINE\\\(local)\\ipsecFilter{00000000-1111-2222-3333-444444444444}]

        """
    }

    @Test func aRegistryExportGivesTheLocalStoresObjects() throws {
        let export = try RegistryExport.parse(Self.export.replacingOccurrences(of: "\n", with: "\r\n"), file: "p.reg")
        #expect(export.version == 5 && export.keys.count == 6)
        let objects = try WindowsPolicyObjects.from(export)
        #expect(objects.ignored == 1, "the unrelated key is counted")
        #expect(objects.activePolicy == Self.policy)
        #expect(objects.objects.map(\.objectClass) == [.filter, .nfa], "the deleted key is gone")
        let f = objects.objects[0]
        #expect(f.guid == Self.filter && f.name == "Web \"In\"" && f.description == "HTTP, HTTPS")
        #expect(f.dataType == 256 && f.whenChanged == String(0x4574_4f3c))
        #expect(
            f.data == [
                0xb5, 0x20, 0xdc, 0x80, 0xc8, 0x2e, 0xd1, 0x11, 0xa8, 0x9e, 0, 0xa0, 0x24, 0x8d, 0x30, 0x21, 4, 0, 0, 0,
                1, 2, 3, 4
            ])
        #expect(f.references["ipsecownersreference"] == [Self.nfa])
        let n = objects.objects[1]
        #expect(n.references["ipsecfilterreference"] == [Self.filter])
        #expect(n.references["ipsecnegotiationpolicyreference"] == ["{80DC20B9-2EC8-11D1-A89E-00A0248D3021}"])
        #expect(
            objects.warnings.map(\.description) == [
                "p.reg:20:1: warning: ipsecNFA\(Self.nfa): the value 'ipsecFuture' is not one [MS-GPIPSEC] §2.2.1 gives this class, or not of its type: ignored"
            ], "\(objects.warnings)")
    }

    @Test func regedit4AndErrorsThatNameTheirPlace() throws {
        let four = try RegistryExport.parse("REGEDIT4\n\n[HKLM\\\(Self.local)]\n@=\"x\"\n", file: "w2k.reg")
        #expect(four.version == 4 && four.keys[0].value("")?.strings(version: 4) == ["x"])
        func error(_ text: String) -> String {
            do {
                _ = try RegistryExport.parse(text, file: "f.reg")
                return ""
            } catch {
                return error.description
            }
        }
        #expect(error("[x]\n").hasPrefix("f.reg:1:1: error: not a registry export"))
        #expect(error("REGEDIT4\n\"a\"=dword:1\n").contains("f.reg:2:1: error: a value before any [KEY] line"))
        #expect(error("REGEDIT4\n[k]\n\"a\"=dword:1\n").contains("dword: takes eight hex digits"))
        #expect(error("REGEDIT4\n[k]\n\"a\"=hex:1,02\n").contains("two-digit bytes"))
        #expect(error("REGEDIT4\n[k]\n\"a\"=\"open\n").contains("without its closing quote"))
        #expect(error("REGEDIT4\n[k]\n\"a\"=qword:1\n").contains("a value is \"text\", dword:, hex: or hex(N):"))
    }

    @Test func anLDIFExportGivesTheDirectorysObjectsAndTheAssignment() throws {
        let blob = Data([0xb5, 0x20, 0xdc, 0x80, 9, 9]).base64EncodedString()
        let ldifText = """
            version: 1

            # the policy's filter list
            dn: CN=ipsecFilter\(Self.filter),CN=IP Security,CN=System,DC=contoso,DC=com
            changetype: add
            objectClass: top
            objectClass: ipsecBase
            objectClass: ipsecFilter
            ipsecName: Web
              In
            ipsecID: \(Self.filter.lowercased())
            ipsecDataType: 256
            ipsecData:: \(blob)
            whenChanged: 20061204121314.0Z
            ipsecOwnersReference: CN=ipsecNFA\(Self.nfa),CN=IP Security,CN=System,DC=contoso,DC=com

            dn: CN=ipsec,CN=Windows,CN=Microsoft,CN=Machine,CN={31B2F340-016D-11D2-945F-00C04FB984F9},CN=Policies,CN=System,DC=contoso,DC=com
            objectClass: ipsecPolicy
            ipsecOwnersReference: CN=ipsecPolicy\(Self.policy),CN=IP Security,CN=System,DC=contoso,DC=com

            dn: CN=Someone,CN=Users,DC=contoso,DC=com
            objectClass: user

            """
        let ldif = try LDIF.parse(ldifText, file: "gpo.ldf")
        #expect(
            try LDIF.parse(ldifText.replacingOccurrences(of: "\n", with: "\r\n"), file: "gpo.ldf") == ldif,
            "ldifde writes CRLF")
        let objects = WindowsPolicyObjects.from(ldif)
        #expect(objects.objects.count == 1 && objects.ignored == 1 && objects.activePolicy == Self.policy)
        let f = objects.objects[0]
        #expect(f.objectClass == .filter && f.guid == Self.filter && f.name == "Web In", "folded")
        #expect(f.data == [0xb5, 0x20, 0xdc, 0x80, 9, 9] && f.dataType == 256 && f.whenChanged == "20061204121314.0Z")
        #expect(f.references["ipsecownersreference"] == [Self.nfa])
        #expect(objects.warnings.isEmpty, "\(objects.warnings)")
        #expect(throws: Diagnostic.self) { try LDIF.parse("dn: x\nipsecData:: !!!\n", file: "b.ldf") }
        #expect(throws: Diagnostic.self) { try LDIF.parse("objectClass: x\n", file: "b.ldf") }
    }
}
