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
        try withLab { lab, cli in
            try cli.exec(
                """
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
            #expect(
                input.components(separatedBy: "log prefix \"rampart in input_f").count - 1 == 4,
                "four grouped logged drops:\n\(input)")
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
                (lab.inside, L.internal6, L.serverInternal6, 6006)
            ]
            for (ns, source, destination, port) in probes {
                try GroupedFilterTests.send(3, from: ns, source, to: destination, port)
            }
            _ = pollUntil(seconds: 3) { records.lock.withLock { records.packets.count } >= 3 * probes.count }
            wakeup.stop()
            reader.cancel()
            let logged = records.lock.withLock { records.packets }
            #expect(records.lock.withLock { records.lost } == 0)
            #expect(logged.count == 3 * probes.count, "\(logged.map(\.prefix))")
            // Numbered by the kernel, one after another: nothing was lost.
            let sequence = logged.compactMap(\.sequence)
            #expect(
                sequence.count == logged.count && zip(sequence, sequence.dropFirst()).allSatisfy { $1 == $0 &+ 1 },
                "\(sequence)")

            let host = Host(
                localAddresses: Set(
                    [L.serverInternal4, L.serverInternal6, L.serverExternal4, L.serverExternal6].map { IPAddress($0)! })
            )
            let reference = ReferenceEvaluator(store: store, addresses: DynamicAddresses(), host: host)
            var named: [String: Int] = [:]
            for record in logged {
                let packet = try #require(
                    Packet(headers: record.payload[...], interface: "eth0"), "headers of \(record.prefix)")
                let attribution = try #require(LogAttribution(prefix: record.prefix, packet: packet, ruleset: ruleset))
                let expected = reference.verdict(packet, .input)
                #expect(expected.action == .drop)
                #expect(
                    attribution == LogAttribution(kind: .filter, direction: "in", id: expected.decidedBy),
                    "\(record.prefix) \(packet)")
                #expect(record.hook == 1, "logged at the input hook")
                if let id = attribution.id { named[id, default: 0] += 1 }
            }
            #expect(
                named.count == probes.count && named.values.allSatisfy { $0 == 3 },
                "each probe's three datagrams, each probe a filter of its own: \(named)")
        }
    }
}
