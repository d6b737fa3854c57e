import Testing

@testable import RampartCompiler
@testable import RampartPolicy

/// The lockout guard's pure part: which sessions a change would cut, found in the kernel's
/// connection table, and the words of the refusal.
@Suite struct SessionGuardTests {
    static let host = Host(localAddresses: [IPAddress("198.51.100.1")!, IPAddress("2001:db8:100::1")!])

    static func evaluator(_ script: String) throws -> ReferenceEvaluator {
        ReferenceEvaluator(store: try storeFrom(script), addresses: DynamicAddresses(), host: host)
    }

    static let sshAndBlock = """
        pushd ipsec static
        add filteraction name=Permit action=permit
        add filteraction name=Block action=block
        add filter filterlist=Everything srcaddr=any dstaddr=any
        add filter filterlist=SSH srcaddr=198.51.100.0 srcmask=24 dstaddr=me protocol=tcp dstport=22 mirrored=yes
        add policy name=P assign=yes
        add rule name=block policy=P filterlist=Everything filteraction=Block
        add rule name=ssh policy=P filterlist=SSH filteraction=Permit
        popd

        """

    /// A session is judged on the kind of interface its local address is on: SSH permitted from
    /// the LAN only cuts an admin who came in over WireGuard (link type 65534), not one on the LAN.
    @Test func aSessionIsJudgedOnItsInterfacesKind() throws {
        let after = try Self.evaluator(
            Self.sshAndBlock.replacingOccurrences(
                of: "filterlist=SSH filteraction=Permit", with: "filterlist=SSH filteraction=Permit conntype=lan"))
        let session = try #require(Session(sshConnection: "198.51.100.10 51000 198.51.100.1 22"))
        let local = IPAddress("198.51.100.1")!
        #expect(SessionGuard.cuts(SessionGuard.onLinks([session], [local: 1]), before: nil, after: after).isEmpty)
        let cuts = SessionGuard.cuts(SessionGuard.onLinks([session], [local: 65534]), before: nil, after: after)
        #expect(cuts.map(\.decidedBy) == ["F4 [local/P/block/Everything/#1]"], "\(cuts)")
    }

    @Test func sshConnectionIsReadAsOpenSSHWritesIt() {
        let v4 = Session(sshConnection: "198.51.100.10 51000 198.51.100.1 22")
        #expect(v4?.endpoints == "198.51.100.10:51000 -> 198.51.100.1:22")
        let v6 = Session(sshConnection: "2001:db8:100::10 40000 2001:db8:100::1 2222")
        #expect(v6?.endpoints == "[2001:db8:100::10]:40000 -> [2001:db8:100::1]:2222")
        let mapped = Session(sshConnection: "::ffff:198.51.100.10 51000 ::ffff:198.51.100.1 22")
        #expect(mapped?.endpoints == "198.51.100.10:51000 -> 198.51.100.1:22", "a v4 client of a v6 socket")
        for bad in ["", "198.51.100.10 51000 198.51.100.1", "x 1 y 2", "198.51.100.10 70000 198.51.100.1 22"] {
            #expect(Session(sshConnection: bad) == nil, "\(bad)")
        }
    }

    /// Lines as the kernel writes them (x86: each 32-bit word of the address in host order).
    @Test func establishedConnectionsToTheGuardedPortsAreFoundInProcNetTCP() {
        let tcp = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
               1: 016433C6:0016 0A6433C6:C738 01 00000000:00000000 02:000A7E2F 00000000     0        0 2 4 0 20 4 30 10 -1
               2: 016433C6:0050 0A6433C6:C739 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
               3: 016433C6:0016 0A6433C6:C73A 06 00000000:00000000 03:00001786 00000000     0        0 0 3 0
            """
        let found = Session.established(procNetTCP: tcp, localPorts: [22])
        #expect(
            found.map(\.endpoints) == ["198.51.100.10:51000 -> 198.51.100.1:22"], "listening, port 80, TIME_WAIT: not")
        let tcp6 = """
              sl  local_address                         remote_address                        st tx_queue rx_queue
               0: B80D0120000000010000000001000000:0016 B80D0120000000010000000010000000:9C40 01 00000000:00000000
               1: 0000000000000000FFFF00000100A8C0:0016 0000000000000000FFFF00000A00A8C0:9C41 01 00000000:00000000
            """
        #expect(
            Session.established(procNetTCP: tcp6, localPorts: [22]).map(\.endpoints) == [
                "[2001:db8:100::10]:40000 -> [2001:db8:100::1]:22", "192.168.0.10:40001 -> 192.168.0.1:22"
            ])
    }

    @Test func aChangeThatDropsTheSessionIsACutAndOneThatWasDroppedBeforeIsNot() throws {
        var session = try #require(Session(sshConnection: "198.51.100.10 51000 198.51.100.1 22"))
        session.yours = true
        let before = try Self.evaluator(Self.sshAndBlock)
        let after = try Self.evaluator(Self.sshAndBlock + "ipsec static delete rule name=ssh policy=P\n")
        let cuts = SessionGuard.cuts([session], before: before, after: after)
        #expect(
            cuts.map(\.description) == [
                "your session 198.51.100.10:51000 -> 198.51.100.1:22: its arriving packets would be dropped by F4 [local/P/block/Everything/#1]"
            ])
        #expect(SessionGuard.cuts([session], before: before, after: before).isEmpty, "unchanged: nothing cut")
        #expect(SessionGuard.cuts([session], before: after, after: after).isEmpty, "dropped already: not the change's")
        #expect(SessionGuard.cuts([session], before: nil, after: after).count == 1, "boot mode: every drop counts")
        let other = try #require(Session(sshConnection: "203.0.113.10 40000 198.51.100.1 22"))
        #expect(SessionGuard.cuts([other], before: nil, after: before).count == 1, "outside the SSH list")
        #expect(
            SessionGuard.refusal(cuts, retry: .fileConfirm) == """
                this change would cut an established SSH session; nothing was changed:
                  your session 198.51.100.10:51000 -> 198.51.100.1:22: its arriving packets would be dropped by F4 [local/P/block/Everything/#1]
                To try it with an automatic rollback, put the commands in a file and run 'rampart exec --confirm 60 FILE': the previous policy comes back unless 'rampart confirm' follows within 60 seconds.
                To apply it anyway, add --force (or set RAMPART_ASSUME_YES=1).
                """)
    }
}
