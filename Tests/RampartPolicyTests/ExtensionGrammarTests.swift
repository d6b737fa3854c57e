import FoundationEssentials
import Testing
@testable import RampartPolicy

/// Port ranges and lists, TCP-flag tests: the grammar, its errors, the store line, dump and the
/// netsh forms they never change.
@Suite struct ExtensionGrammarTests {
    func filter(_ words: String) throws -> Filter {
        let i = try runStatic("add filter filterlist=L srcaddr=any dstaddr=me \(words)")
        return try #require(i.store.local.filterLists.first?.filters.first)
    }

    @Test func portRangesAndListsAreNormalised() throws {
        #expect(try filter("protocol=tcp dstport=1024-65535").destinationPort.ranges == [1024...65535])
        #expect(try filter("protocol=tcp dstport=8080,80,443").destinationPort.description == "80,443,8080")
        // Overlapping and adjacent items merge: equal sets compare equal however they are written.
        #expect(try filter("protocol=udp srcport=137-138,139,140-141,138").sourcePort.description == "137-141")
        #expect(try filter("protocol=tcp dstport=22").destinationPort.single == 22)
        #expect(try filter("protocol=tcp dstport=0").destinationPort.isAny)
        #expect(try filter("protocol=tcp dstport=5-5").destinationPort.single == 5)
        #expect(try filter("protocol=tcp dstport=1-1023").destinationPort.count == 1023)
    }

    @Test(arguments: [
        ("protocol=tcp dstport=70000", "dstport: '70000' is not a port number from 0 (any) to 65535"),
        (
            "protocol=tcp dstport=0,80",
            "dstport: '0' in '0,80' is not a port from 1 to 65535 (0, any port, stands alone)"
        ),
        ("protocol=tcp dstport=90-80", "dstport: the range '90-80' ends before it starts"),
        ("protocol=tcp dstport=80-", "dstport: '80-' in '80-' is not a range of ports from 1 to 65535"),
        (
            "protocol=tcp dstport=80,,443",
            "dstport: '' in '80,,443' is not a port from 1 to 65535 (0, any port, stands alone)"
        ),
        (
            "protocol=tcp dstport=" + (1...33).map(String.init).joined(separator: ","),
            "dstport: '1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33' lists 33 ports or ranges; at most 32 are allowed"
        ),
        ("protocol=icmp dstport=1-10", "ports need protocol TCP or UDP (protocol is ICMP)"),
        ("protocol=udp tcpflags=syn", "tcpflags needs protocol TCP (protocol is UDP)"),
        ("tcpflags=syn", "tcpflags needs protocol TCP (protocol is ANY)"),
        (
            "protocol=tcp tcpflags=syn+foo",
            "tcpflags: 'foo' in tcpflags 'syn+foo' is not a TCP flag (fin, syn, rst, psh, ack, urg, ecn, cwr, none)"
        ),
        ("protocol=tcp tcpflags=syn/ack", "tcpflags: tcpflags 'syn/ack' sets flags outside its mask"),
        ("protocol=tcp tcpflags=syn/none", "tcpflags: tcpflags 'syn/none' has an empty mask: it would test nothing")
    ])
    func badExtensionsAreRefusedAtTheirPlace(words: String, message: String) {
        let e = staticError("add filter filterlist=L srcaddr=any dstaddr=me \(words)")
        #expect(e?.message == message, "\(e?.description ?? "no error")")
        #expect(e?.location?.line == 2)
    }

    @Test func tcpFlagsReadAsNftDoes() throws {
        let syn = try #require(try filter("protocol=tcp tcpflags=syn").tcpFlags)
        #expect(syn == TCPFlagMatch(mask: 0x17, value: 0x02) && syn.nftText == "tcp flags & (fin|syn|rst|ack) == syn")
        #expect(syn.matches(0x02) && !syn.matches(0x12) && !syn.matches(0x10) && syn.matches(0x0a))
        let notSyn = try #require(try filter("protocol=tcp tcpflags=!SYN").tcpFlags)
        #expect(notSyn.description == "!syn" && notSyn.matches(0x12) && !notSyn.matches(0x02))
        let synAck = try #require(try filter("protocol=tcp tcpflags=syn+ack").tcpFlags)
        #expect(synAck.matches(0x12) && !synAck.matches(0x02) && synAck.description == "syn+ack")
        let anySyn = try #require(try filter("protocol=tcp tcpflags=syn/syn").tcpFlags)
        #expect(
            anySyn.matches(0x02) && anySyn.matches(0x12) && !anySyn.matches(0x10)
                && anySyn.nftText == "tcp flags & syn == syn")
        #expect(try filter("protocol=tcp tcpflags=none/rst").tcpFlags?.nftText == "tcp flags & rst == 0x0")
    }

    @Test func storeLinesCarryTheExtensions() throws {
        let f = try filter("protocol=tcp srcport=1024-65535 dstport=80,443 tcpflags=!syn mirrored=no description=web")
        #expect(f.storeLine == "2 any me 6:!02/17 1024-65535 80,443 one-way web")
        #expect(try Filter(storeLine: f.storeLine) == f)
        let store = try runStatic(
            "add filter filterlist=L srcaddr=any dstaddr=me protocol=tcp dstport=3000-3999 tcpflags=syn"
        ).store
        #expect(try StoreCodec.decode(StoreCodec.encode(store)) == store)
        // Damaged extension fields are refused with the filter named.
        #expect(throws: StoreError.self) { try Filter(storeLine: "6 any me 17:02/17 0 53 one-way") }
        #expect(throws: StoreError.self) { try Filter(storeLine: "6 any me 6:zz 0 53 one-way") }
        #expect(throws: StoreError.self) { try Filter(storeLine: "6 any me 6 0 90-80 one-way") }
    }

    @Test func netshFiltersAreUnchanged() throws {
        let f = try filter("protocol=tcp srcport=1024 dstport=80")
        #expect(!f.usesExtensions && f.storeLine == "2 any me 6 1024 80 mirrored")
        #expect(
            ScriptWriter.filterArguments(f) == [
                "srcaddr=any", "dstaddr=me", "protocol=TCP", "srcport=1024", "dstport=80", "mirrored=yes"
            ])
        #expect(try filter("protocol=tcp dstport=80,443").usesExtensions)
    }

    @Test func dynamicRulesTakeTheExtensions() throws {
        let i = try run(
            """
            pushd ipsec dynamic
            add mmpolicy name=M
            add rule srcaddr=any dstaddr=me protocol=tcp dstport=6000-6010 tcpflags=syn mmpolicy=M actioninbound=block actionoutbound=permit mirrored=no
            """, dynamic: DynamicState())
        let rule = try #require(i.dynamic?.rules.first)
        #expect(rule.filter.destinationPort.description == "6000-6010" && rule.filter.tcpFlags?.description == "syn")
    }

    @Test func deleteFilterMatchesTheExtensions() throws {
        let i = try runStatic(
            """
            add filter filterlist=L srcaddr=any dstaddr=me protocol=tcp dstport=80,443
            add filter filterlist=L srcaddr=any dstaddr=me protocol=tcp dstport=80,443 tcpflags=syn
            delete filter filterlist=L srcaddr=any dstaddr=me protocol=tcp dstport=443,80 tcpflags=syn
            """)
        #expect(i.store.local.filterLists[0].filters.map(\.tcpFlags) == [nil])
    }
}
