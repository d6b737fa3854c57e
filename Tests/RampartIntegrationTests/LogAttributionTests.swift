import Foundation
import Testing
import RampartCompiler
import RampartNamespaceKit
import RampartNetlink
import RampartPolicy
import RampartSystem
import RampartTestKit

/// Drops logged by the kernel name the filter that dropped them, for every grouped shape: the
/// packets NFLOG hands over, attributed by their prefix and headers, are decided by exactly the
/// filters the reference evaluator (Windows semantics on the filter list) says.
@Suite(.serialized) struct LogAttributionTests {
    typealias L = Lab

    @Test func everyLoggedDropNamesItsFilter() throws {
        let lab = try Lab()
        defer { lab.teardown() }
        let cli = try RampartCLI()
        defer { cli.cleanup() }
        try cli.exec("""
            pushd ipsec static
            add filteraction name=Block action=block
            add filter filterlist=B srcaddr=\(L.external4) dstaddr=me protocol=udp dstport=6001 mirrored=no
            add filter filterlist=B srcaddr=203.0.113.99 dstaddr=me protocol=udp dstport=6001 mirrored=no
            add filter filterlist=B srcaddr=198.51.100.0 srcmask=24 dstaddr=me protocol=udp dstport=6002 mirrored=no
            add filter filterlist=B srcaddr=192.0.2.0 srcmask=24 dstaddr=me protocol=udp dstport=6003 mirrored=no
            add filter filterlist=B srcaddr=\(L.external6) dstaddr=me mirrored=no
            add filter filterlist=B srcaddr=2001:db8:203::99 dstaddr=me mirrored=no
            add filter filterlist=B srcaddr=any dstaddr=me protocol=udp dstport=6004 mirrored=no
            add filter filterlist=B srcaddr=any dstaddr=me protocol=udp dstport=6005 mirrored=no
            add filter filterlist=B srcaddr=\(L.internal6) dstaddr=me protocol=udp dstport=6006 mirrored=no
            add policy name=P assign=yes
            add rule name=b policy=P filterlist=B filteraction=Block
            popd
            ipsec dynamic set config ipsecdiagnostics 7

            """)
        try cli.run(["apply"], in: lab.server)
        let store = try StoreFile(path: cli.store).load()
        let ruleset = RulesetCompiler().compile(store)
        let input = try lab.server.nftList().components(separatedBy: "chain input")[1]
        #expect(input.components(separatedBy: "log prefix \"rampart in input_f").count - 1 == 4, "four grouped logged drops:\n\(input)")
        #expect(input.contains("log prefix \"rampart in F"), "and one filter alone:\n\(input)")

        let socket = try lab.server.nflog(group: 1000)
        let wakeup = try Wakeup()
        final class Records: @unchecked Sendable {
            let lock = NSLock()
            var packets: [NflogPacket] = []
            var lost = 0
        }
        let records = Records()
        let reader = Thread {
            try? socket.run(until: wakeup, lost: { records.lock.withLock { records.lost += 1 } }) { batch in
                records.lock.withLock { records.packets += batch }
            }
        }
        reader.start()
        // Three datagrams per probe.
        let probes: [(Namespace, String, String, Int)] = [
            (lab.external, L.external4, L.serverExternal4, 6001),
            (lab.inside, L.internal4, L.serverInternal4, 6002),
            (lab.external, L.external6, L.serverExternal6, 6010),
            (lab.inside, L.internal4, L.serverInternal4, 6004),
            (lab.inside, L.internal6, L.serverInternal6, 6006),
        ]
        for (ns, source, destination, port) in probes {
            try GroupedFilterTests.send(3, from: ns, source, to: destination, port)
        }
        var waited = 0
        while records.lock.withLock({ records.packets.count }) < 3 * probes.count, waited < 300 {
            usleep(10_000)
            waited += 1
        }
        wakeup.stop()
        reader.cancel()
        let logged = records.lock.withLock { records.packets }
        #expect(records.lock.withLock { records.lost } == 0)
        #expect(logged.count == 3 * probes.count, "\(logged.map(\.prefix))")
        // Numbered by the kernel, one after another: nothing was lost.
        let sequence = logged.compactMap(\.sequence)
        #expect(sequence.count == logged.count && zip(sequence, sequence.dropFirst()).allSatisfy { $1 == $0 &+ 1 }, "\(sequence)")

        let host = Host(localAddresses: Set([L.serverInternal4, L.serverInternal6, L.serverExternal4, L.serverExternal6].map { IPAddress($0)! }))
        let reference = ReferenceEvaluator(store: store, addresses: DynamicAddresses(), host: host)
        var named: [String: Int] = [:]
        for record in logged {
            let packet = try #require(Packet(headers: record.payload[...], interface: "eth0"), "headers of \(record.prefix)")
            let attribution = try #require(LogAttribution(prefix: record.prefix, packet: packet, ruleset: ruleset))
            let expected = reference.verdict(packet, .input)
            #expect(expected.action == .drop)
            #expect(attribution == LogAttribution(kind: .filter, direction: "in", id: expected.decidedBy), "\(record.prefix) \(packet)")
            #expect(record.hook == 1, "logged at the input hook")
            if let id = attribution.id { named[id, default: 0] += 1 }
        }
        #expect(named.count == probes.count && named.values.allSatisfy { $0 == 3 }, "each probe's three datagrams, each probe a filter of its own: \(named)")
    }
}

/// rampartd reads NFLOG: drops sent from a namespace come back, at the end of their
/// `ipsecloginterval` (60 s, the shortest netsh allows), as one aggregated record naming the filter.
@Suite(.serialized) struct DropRecordTests {
    typealias L = Lab

    @Test func theDaemonRecordsDropsPerInterval() throws {
        let lab = try Lab()
        defer { lab.teardown() }
        let cli = try RampartCLI()
        defer { cli.cleanup() }
        try cli.exec("""
            pushd ipsec static
            add filteraction name=Block action=block
            add filter filterlist=B srcaddr=\(L.external4) dstaddr=me protocol=udp dstport=6001 mirrored=no
            add filter filterlist=B srcaddr=203.0.113.99 dstaddr=me protocol=udp dstport=6001 mirrored=no
            add policy name=P assign=yes
            add rule name=b policy=P filterlist=B filteraction=Block
            popd
            ipsec dynamic set config ipsecdiagnostics 1
            ipsec dynamic set config ipsecloginterval 60

            """)
        let logFile = cli.directory.appendingPathComponent("drops.log").path
        let daemon = try DaemonHarness(cli: cli, ns: lab.server, config: "log_file = \(logFile)\n")
        defer { daemon.stop() }
        try daemon.start()
        // Four datagrams: under the log rule's burst of 5, so each is logged.
        try GroupedFilterTests.send(4, from: lab.external, L.external4, to: L.serverExternal4, 6001)
        let line = "drop in F3 [local/P/b/B/#1]: udp \(L.external4) -> \(L.serverExternal4) port 6001, 4 packet(s)"
        #expect(daemon.eventually(75) { daemon.log().contains(line) }, "\(daemon.log())")
        #expect(daemon.log().contains("4 logged (4 in 1 record(s), 0 not itemised), 0 lost"), "\(daemon.log())")
        // The W3C file, read back by Python's csv module with the #Fields directive as the header.
        let parsed = try sh(["python3", "-c", """
            import csv, json, sys
            lines = open(sys.argv[1]).read().splitlines()
            assert lines[0] == "#Version: 1.0" and lines[2] == "#Time Format: UTC", lines[:3]
            fields = next(l for l in lines if l.startswith("#Fields: "))[len("#Fields: "):].split(" ")
            rows = [dict(zip(fields, r)) for r in csv.reader([l for l in lines if not l.startswith("#")], delimiter=" ")]
            print(json.dumps(rows))
            """, logFile]).out
        let rows = try JSONSerialization.jsonObject(with: Data(parsed.utf8)) as? [[String: String]]
        let row = try #require(rows?.first, "\(parsed)")
        #expect(rows?.count == 1)
        #expect(row["action"] == "DROP" && row["protocol"] == "UDP" && row["src-ip"] == L.external4 && row["dst-ip"] == L.serverExternal4)
        #expect(row["dst-port"] == "6001" && row["src-port"] == "-" && row["count"] == "4" && row["direction"] == "in")
        #expect(row["filter"] == "F3" && row["rule"] == "b" && row["policy"] == "P", "\(row)")
    }
}
