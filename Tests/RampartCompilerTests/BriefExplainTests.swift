import Foundation
import RampartCompiler
import RampartPolicy
import RampartReport
import RampartTestKit
import Testing

/// `explain` brief by default (issue 31, items 4 and 8): the verdict, the deciding filter and the
/// nearest filters before it that did not match, every differing part named, an empty server-type
/// set named as the reason; `--all` (the word `all`) lists every one.
@Suite struct BriefExplainTests {
    static let host = Host(localAddresses: [IPAddress("192.0.2.10")!, IPAddress("2001:db8::10")!])

    static func explain(_ words: [String], _ store: Store, _ addresses: DynamicAddresses = DynamicAddresses()) -> String
    {
        guard
            case .success(let r) = ExplainRun.run(
                words, store: store, dynamic: nil, addresses: addresses, host: host,
                at: Date(timeIntervalSince1970: 1_796_176_920))
        else { return "did not parse" }
        return r.text
    }

    static let web = { try! storeFrom(String(contentsOfFile: Fixtures.webServerExample, encoding: .utf8)) }()

    @Test func theNearestFiltersThatDidNotMatch() {
        let text = Self.explain(["in", "tcp", "203.0.113.7:51000", "to", "me:8080", "interface=eth0"], Self.web)
        #expect(
            text == """
                in 203.0.113.7:51000 -> 192.0.2.10:8080 proto 6 on eth0
                verdict: block (drop)
                decided by: F16 rank 17 (A,A #45, block): any -> any ANY  [local/Web Server/Block all/All Traffic/#1]
                nearest that did not match, of 16 considered before it:
                  F4 rank 9 (A,S #22, permit): any -> me TCP 0->80  [local/Web Server/Web in/Web In/#1] — destination port does not match
                  F5 rank 10 (A,S #22, permit): any -> me TCP 0->443  [local/Web Server/Web in/Web In/#2] — destination port does not match
                  F11 rank 14 (S,A #27, permit): me -> any TCP 0->443  [local/Web Server/Web out/Web Out/#2] — source address and destination port do not match
                  F4m rank 15 (S,A #28, permit): me -> any TCP 80->0  [local/Web Server/Web in/Web In/#1] — source address and source port do not match
                  F5m rank 16 (S,A #28, permit): me -> any TCP 443->0  [local/Web Server/Web in/Web In/#2] — source address and source port do not match
                  … and 11 more: --all lists every filter considered, in order

                """, "\(text)")
        let all = Self.explain(["in", "tcp", "203.0.113.7:51000", "to", "me:8080", "all"], Self.web)
        #expect(all.contains("considered before it, in order:\n  F13 rank 1 "), "\(all)")
        #expect(all.split(separator: "\n").filter { $0.hasPrefix("  F") }.count == 16 && !all.contains("… and"))
    }

    /// Offline without --addresses, DNS is empty: explain says so, where it used to blame the address.
    @Test func anEmptyServerTypeIsNamedAsTheReason() {
        let text = Self.explain(["out", "udp", "me:40000", "to", "192.0.2.53:53"], Self.web)
        #expect(
            text.contains(
                "\n  F13 rank 1 (S,S #2, permit): me -> DNS UDP 0->53  [local/Web Server/DNS out/DNS Out/#1] — destination address does not match: DNS has no addresses here\n"
            ), "\(text)")
        var addresses = DynamicAddresses()
        addresses.dns = [IPAddress("192.0.2.53")!]
        #expect(
            Self.explain(["out", "udp", "me:40000", "to", "192.0.2.53:53"], Self.web, addresses).contains(
                "decided by: F13 rank 1"))
        let names = try! storeFrom(
            """
            pushd ipsec static
            add filteraction name=Permit action=permit
            add filteraction name=Block action=block
            add filter filterlist=U srcaddr=me dstaddr=update.example.com protocol=tcp dstport=443
            add filter filterlist=Everything srcaddr=any dstaddr=any
            add policy name=P assign=yes
            add rule name=u policy=P filterlist=U filteraction=Permit
            add rule name=b policy=P filterlist=Everything filteraction=Block
            popd

            """)
        let unresolved = Self.explain(["out", "tcp", "me:40000", "to", "203.0.113.10:443"], names)
        #expect(
            unresolved.contains(
                "destination address does not match: update.example.com has no addresses (not resolved)"),
            "\(unresolved)")
    }

    /// The 1,850-network block list: one packet's answer is a screenful, not thousands of lines.
    @Test func aBlockListAnswerStaysShort() throws {
        let store = try storeFrom(Fixtures.blocklist(entries: 1_850))
        let text = Self.explain(["in", "tcp", "198.51.100.7:51000", "to", "me:22"], store)
        let lines = text.split(separator: "\n")
        #expect(text.contains("decided by: ") && lines.count <= 10, "\(lines.count) lines:\n\(text)")
        #expect(text.contains("… and ") && text.contains(" more: --all lists every filter considered"))
        let unmatched = Self.explain(["in", "tcp", "192.0.2.99:51000", "to", "me:23"], store)
        #expect(unmatched.split(separator: "\n").count <= 10, "\(unmatched)")
    }
}
