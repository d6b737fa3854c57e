import Foundation
import Testing
@testable import RampartIPsec
import RampartPolicy
import RampartReport
@testable import RampartVici

private func outputs(_ script: String) throws -> [Output] {
    var i = Interpreter(store: Store())
    try ScriptRunner.run(ScriptRunner.lines(of: script, file: "t.netsh"), in: &i)
    return i.outputs
}

private let listing: SAListing = {
    var l = SAListing(items: [])
    l.ike = [
        SAListing.IKE(
            connection: "rampart-l1", version: "IKEv2", state: "ESTABLISHED", local: "198.51.100.1",
            peer: "198.51.100.10",
            peerID: "198.51.100.10", algorithms: "AES_CBC/256", establishedSeconds: "12", rekeySeconds: "28000"),
        SAListing.IKE(
            connection: "site", version: "IKEv2", state: "CONNECTING", local: "198.51.100.1", peer: "203.0.113.5",
            peerID: "-", algorithms: "-", establishedSeconds: "-", rekeySeconds: "-")
    ]
    l.children = [
        SAListing.Child(
            connection: "rampart-l1", name: "F1", state: "INSTALLED", mode: "TRANSPORT", protocol_: "ESP",
            algorithms: "AES_GCM_16/128", bytesIn: "1000", packetsIn: "10", bytesOut: "2000", packetsOut: "20",
            lifeSeconds: "3000", localTS: ["198.51.100.1/32[tcp]"], remoteTS: ["198.51.100.10/32[tcp/5001]"]),
        SAListing.Child(
            connection: "site", name: "net", state: "INSTALLED", mode: "TUNNEL", protocol_: "ESP",
            algorithms: "-", bytesIn: "5", packetsIn: "1", bytesOut: "7", packetsOut: "1",
            lifeSeconds: "1", localTS: [], remoteTS: [])
    ]
    return l
}()

@Suite struct IPsecViewTests {
    /// charon's list-sas of an IKE_SA whose peer is behind a NAT (issue 34): the ports, which end is
    /// behind the NAT, and ESP in UDP, in the main mode and quick mode views.
    @Test func aPeerBehindANATIsShownWithItsPortsAndUDPEncapsulation() {
        let child = ViciMessage([
            ("name", "F1"), ("state", "INSTALLED"), ("mode", "TRANSPORT"), ("protocol", "ESP"), ("encap", "yes"),
            ("local-ts", .strings(["203.0.113.10/32[tcp/5001]"])), ("remote-ts", .strings(["203.0.113.1/32[tcp]"]))
        ])
        let sa = ViciMessage([
            ("version", "2"), ("state", "ESTABLISHED"), ("local-host", "203.0.113.10"), ("local-port", "4500"),
            ("remote-host", "203.0.113.1"), ("remote-port", "1031"), ("remote-id", "198.51.100.10"),
            ("nat-remote", "yes"),
            ("nat-any", "yes"), ("child-sas", .section(ViciMessage([("F1-1", .section(child))])))
        ])
        let l = SAListing(items: [ViciMessage([("rampart-l1", .section(sa))])])
        #expect(l.ike.first?.nat == "peer" && l.ike.first?.peerPort == "1031" && l.ike.first?.localPort == "4500")
        #expect(l.children.first?.udpEncapsulated == true)
        let view = IPsecView(listing: l, charonError: nil, charon: [], daemon: nil, lastFailure: nil, xfrm: nil)
        let mm = view.mainModeText(), qm = view.quickModeText()
        #expect(
            mm.contains("203.0.113.10:4500") && mm.contains("203.0.113.1:1031") && mm.contains("BEHIND NAT")
                && mm.contains(" peer "), "\(mm)")
        #expect(qm.contains("ESP-in-UDP"), "\(qm)")
        // Selecting by address still works with the ports shown.
        #expect(view.selecting(source: nil, destination: "203.0.113.1").listing?.ike.count == 1)
    }

    @Test func xfrmStatisticsAreParsedAsTheKernelWritesThem() {
        let x = XfrmStats.parse(
            "XfrmInError             \t0\nXfrmInNoStates          \t17\nXfrmOutNoStates         \t3\ngarbage line\nXfrmBad x\n"
        )
        #expect(x.counters.map(\.name) == ["XfrmInError", "XfrmInNoStates", "XfrmOutNoStates"])
        #expect(x["XfrmInNoStates"] == 17 && x["XfrmOutNoStates"] == 3 && x["XfrmInStateProtoError"] == nil)
    }

    @Test func showCommandsAskForTheirViewAndSelection() throws {
        let o = try outputs(
            """
            dynamic show mmsas dstaddr=198.51.100.10
            dynamic show qmsas srcaddr=me
            dynamic show stats type=ipsec
            """)
        var mm = IPsecQuery(view: .mainMode, destination: "198.51.100.10")
        mm.ike = true
        var stats = IPsecQuery(view: .stats)
        stats.ike = false
        #expect(o == [.ipsec(mm), .ipsec(IPsecQuery(view: .quickMode)), .ipsec(stats)])
        #expect(o.asksIPsec)
        #expect(throws: Diagnostic.self) { try outputs("dynamic show stats type=weird") }
        #expect(throws: Diagnostic.self) { try outputs("dynamic show mmsas dstaddr=not-an-address") }
    }

    @Test func viewsSelectOwnConnectionsAndPeers() {
        let v = IPsecView(listing: listing, charonError: nil, charon: [], daemon: nil, lastFailure: nil, xfrm: nil)
        let peer = v.selecting(source: nil, destination: "198.51.100.10")
        #expect(peer.listing?.ike.map(\.connection) == ["rampart-l1"] && peer.listing?.children.map(\.name) == ["F1"])
        #expect(v.own().listing?.ike.count == 1 && v.own().listing?.children.count == 1)
        #expect(v.selecting(source: "192.0.2.1", destination: nil).listing?.ike.isEmpty == true)
        let text = v.text(IPsecQuery(view: .mainMode, destination: "198.51.100.10"))
        #expect(
            text.hasPrefix("Main mode security associations (IKE_SAs): 1\n") && text.contains("ESTABLISHED")
                && !text.contains("203.0.113.5"))
        let qm = v.text(IPsecQuery(view: .quickMode))
        #expect(
            qm.hasPrefix("Quick mode security associations (CHILD_SAs): 2\n")
                && qm.contains("198.51.100.10/32[tcp/5001]"))
    }

    @Test func statisticsSayWhatCharonTheKernelAndRampartdCounted() {
        let x = XfrmStats.parse("XfrmInNoStates 4\nXfrmInStateProtoError 2\nXfrmOutNoStates 9\n")
        let v = IPsecView(
            listing: listing, charonError: nil, charon: [IPsecView.Count(name: "IKE_SAs", value: 2)],
            daemon: [IPsecView.Count(name: "Negotiation failures", value: 3)],
            lastFailure: "2026-12-04T10:00:00Z with 203.0.113.5: AUTHENTICATION_FAILED", xfrm: x)
        // Columns are padded to the widest cell: compared with single blanks.
        let text = v.text(IPsecQuery(view: .stats)).split(separator: " ", omittingEmptySubsequences: true).joined(
            separator: " ")
        for needle in [
            "IKE_SAs 2", "Negotiation failures 3", "AUTHENTICATION_FAILED",
            "Packets not authenticated or not decrypted 2 XfrmInStateProtoError",
            "Packets not matched to an SA (no state) 4", "Bytes protected, received (current SAs) 1005",
            "Bytes protected, sent (current SAs) 2007"
        ] {
            #expect(text.contains(needle), "\(needle) in\n\(text)")
        }
        var ikeOnly = IPsecQuery(view: .stats)
        ikeOnly.ipsec = false
        #expect(!v.text(ikeOnly).contains("Xfrm"))
        let json = v.json(IPsecQuery(view: .stats)).rendered(pretty: false)
        #expect(
            json.contains(#""XfrmInStateProtoError":"2""#) && json.contains(#""Negotiation failures":3"#), "\(json)")
        // charon away: said, and the kernel's counters still shown.
        let away = IPsecView(
            listing: nil, charonError: "cannot reach charon at /run/charon.vici: No such file or directory", charon: [],
            daemon: nil, lastFailure: nil, xfrm: x)
        #expect(
            away.text(IPsecQuery(view: .mainMode)).contains("unknown, charon is not reachable: cannot reach charon"))
        #expect(
            away.text(IPsecQuery(view: .stats)).contains("not reachable")
                && away.text(IPsecQuery(view: .stats)).contains("XfrmOutNoStates"))
        #expect(away.json(IPsecQuery(view: .mainMode)).rendered(pretty: false).contains(#""mmsas":null"#))
    }
}
