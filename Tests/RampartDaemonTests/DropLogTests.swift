import Foundation
import Testing
import RampartCompiler
@testable import RampartDaemon
import RampartNetlink
import RampartNetlinkFake
import RampartPolicy
import RampartSystem

/// The engine's drop records: NFLOG packets attributed to their filters (grouped ones through
/// their set's elements), aggregated per `ipsecloginterval`, losses counted from the sequence.
@Suite struct DropLogTests {
    static func udp(from source: [UInt8], port: UInt16) -> [UInt8] {
        [0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0] + source + [192, 0, 2, 1] + [
            0x9c, 0x40, UInt8(port >> 8), UInt8(port & 0xff), 0, 8, 0, 0
        ]
    }

    @Test func dropsAreRecordedPerIntervalNamingTheirFilters() async throws {
        let f = try EngineFixture(
            policy: """
                pushd ipsec static
                add filteraction name=Block action=block
                add filter filterlist=Ban srcaddr=203.0.113.7 dstaddr=me mirrored=no
                add filter filterlist=Ban srcaddr=203.0.113.8 dstaddr=me mirrored=no
                add filter filterlist=Ban srcaddr=198.51.100.0 srcmask=24 dstaddr=me protocol=udp dstport=53 mirrored=no
                add policy name=P assign=yes
                add rule name=b policy=P filterlist=Ban filteraction=Block
                popd
                ipsec dynamic set config ipsecdiagnostics 7
                ipsec dynamic set config ipsecloginterval 60

                """)
        try await f.start()
        // A prefix that is not rampart's starts nothing.
        await f.engine.dropsLogged([
            NflogPacket(
                family: 2, hook: 1, prefix: "iptables DROP ", inInterface: 1,
                payload: Self.udp(from: [203, 0, 113, 8], port: 9))
        ])
        let untouched = await f.engine.dropIntervalRunning
        #expect(!untouched)
        let ruleset = try #require(await f.engine.applied)
        let set = try #require(ruleset.filterSets.first { $0.key.address?.length == 32 })
        let idle = await f.engine.dropIntervalRunning
        #expect(!idle, "no drop timer while nothing is dropped")
        // As the reader thread hands them over: through the queue that counts sequence gaps.
        let queue = DropQueue(capacity: 100)
        var sequence: UInt32 = 0
        func log(_ prefix: String, _ payload: [UInt8], skip: UInt32 = 0) async {
            sequence += 1 + skip
            _ = queue.push([
                NflogPacket(family: 2, hook: 1, prefix: prefix, inInterface: 1, payload: payload, sequence: sequence)
            ])
            let (packets, lost, overrun) = queue.take()
            await f.engine.dropsLogged(packets, lost: lost, overrun: overrun)
        }
        for _ in 0..<4 { await log("rampart in \(set.name) ", Self.udp(from: [203, 0, 113, 8], port: 9)) }
        await log("rampart in F5 ", Self.udp(from: [198, 51, 100, 20], port: 53), skip: 2)
        await log("rampart invalid ", Self.udp(from: [198, 51, 100, 20], port: 53))
        await log("someone else's prefix ", Self.udp(from: [198, 51, 100, 20], port: 53))
        let running = await f.engine.dropIntervalRunning
        #expect(running, "the interval of the first drop is running")
        await f.engine.fireDueTimers(now: .now + .seconds(61))
        let summary = try #require(await f.engine.lastDrops())
        #expect(
            summary.records.map { "\($0.key.filter ?? $0.key.kind.rawValue) \($0.key.source) \($0.count)" } == [
                "F4 203.0.113.8 4", "F5 198.51.100.20 1", "invalid 198.51.100.20 1"
            ])
        #expect(summary.lost == 2, "sequence 5 → 8: two packets the kernel could not deliver")
        #expect(summary.total == 6)
        let after = await f.engine.dropIntervalRunning
        #expect(!after, "no timer until the next drop")
    }

    /// After ENOBUFS, drops the kernel could not deliver after the last packet that came show in
    /// no sequence gap: once the reader is quiet, what the rules' counters saw beyond what came is
    /// counted lost. A packet arriving between the two looks starts the count again.
    @Test func dropsLostAfterTheLastPacketAreCountedFromTheKernelCounters() async throws {
        let f = try EngineFixture(
            policy: """
                pushd ipsec static
                add filteraction name=Block action=block
                add filter filterlist=Ban srcaddr=203.0.113.8 dstaddr=me protocol=udp mirrored=no
                add policy name=P assign=yes
                add rule name=b policy=P filterlist=Ban filteraction=Block
                popd
                ipsec dynamic set config ipsecdiagnostics 1
                ipsec dynamic set config ipsecloginterval 86400

                """)
        // A day's interval: however slow the machine, no summary comes between the steps below.
        try await f.start()
        let ruleset = try #require(await f.engine.applied)
        let id = try #require(
            ruleset.chains.first { $0.name == "input" }?.rules.first { rule in
                rule.statements.contains { if case .log = $0 { true } else { false } }
            }?.id)
        let queue = DropQueue(capacity: 100)
        await f.engine.attachDropSource(queue)
        func deliver(_ sequence: UInt32) async {
            _ = queue.push([
                NflogPacket(
                    family: 2, hook: 1, prefix: "rampart in \(id) ", inInterface: 1,
                    payload: Self.udp(from: [203, 0, 113, 8], port: 9), sequence: sequence)
            ])
            let (packets, lost, overrun) = queue.take()
            await f.engine.dropsLogged(packets, lost: lost, overrun: overrun)
        }
        for n: UInt32 in 0..<3 { await deliver(n) }
        _ = queue.overrun()
        let taken = queue.take()
        await f.engine.dropsLogged(taken.packets, lost: taken.lost, overrun: taken.overrun)
        // The kernel's rules counted 10 logged drops: 3 came.
        f.transport.setCounters(ofRule: id, packets: 10)
        let applies = f.transport.transactions.count
        await f.engine.fireDueTimers(now: .now + .seconds(1))
        var step = await f.engine.dropReconciliation
        #expect(step == .counted(events: 4, kernel: 10, generation: 2), "\(step)")
        // One more arrives late: the look after it does not count, the next one does.
        await deliver(3)
        await f.engine.fireDueTimers(now: .now + .seconds(1))
        step = await f.engine.dropReconciliation
        #expect(step == .wanted)
        await f.engine.fireDueTimers(now: .now + .seconds(1))
        await f.engine.fireDueTimers(now: .now + .seconds(1))
        step = await f.engine.dropReconciliation
        #expect(step == .idle)
        #expect(f.transport.transactions.count == applies, "reading counters applies nothing")
        await f.engine.fireDueTimers(now: .now + .seconds(86401))
        let summary = try #require(await f.engine.lastDrops())
        #expect(summary.itemised == 4 && summary.lost == 6, "\(summary)")
        // Reconciled: a later overrun with nothing unseen adds nothing.
        _ = queue.overrun()
        let again = queue.take()
        await f.engine.dropsLogged(again.packets, lost: again.lost, overrun: again.overrun)
        for _ in 0..<2 { await f.engine.fireDueTimers(now: .now + .seconds(1)) }
        await f.engine.fireDueTimers(now: .now + .seconds(86401))
        let later = await f.engine.lastDrops()
        #expect(later?.lost == 0 && later?.itemised == 0, "\(String(describing: later))")
    }

    @Test func theQueueAccountsForRampartPacketsAndGapsAndKnowsWhenItIsQuiet() throws {
        let socket = RecordedNotifications()
        let queue = DropQueue(capacity: 10, socket: socket)
        func packet(_ n: UInt32, _ prefix: String = "rampart in F1 ") -> NflogPacket {
            NflogPacket(family: 2, hook: 1, prefix: prefix, payload: [], sequence: n)
        }
        let idle = try #require(queue.quiet())
        _ = queue.push([packet(1), packet(4), packet(5, "someone else ")])
        #expect(queue.accounted == 4, "2 rampart packets and the 2 between 1 and 4")
        #expect(queue.quiet() == idle + 1)
        queue.receiving(true)
        #expect(queue.quiet() == nil, "a datagram received and not yet pushed")
        queue.receiving(false)
        socket.feed([.datagram([1])])
        #expect(queue.quiet() == nil, "something waits in the socket")
        #expect(try socket.next(until: Wakeup(), receiving: { _ in }) == .datagram([1]))
        _ = queue.overrun()
        #expect(queue.quiet() == idle + 2)
    }

    @Test func theQueueIsBoundedAndCountsWhatItCannotHold() {
        let queue = DropQueue(capacity: 3)
        func packet(_ n: UInt32) -> NflogPacket {
            NflogPacket(family: 2, hook: 1, prefix: "rampart in F1 ", payload: [], sequence: n)
        }
        #expect(queue.push([packet(1), packet(2)]), "the first batch wakes the consumer")
        #expect(!queue.push([packet(5)]), "a queue with packets needs no second wakeup; 3 and 4 are lost")
        #expect(!queue.push([packet(6), packet(7)]), "past the capacity a batch is dropped and counted")
        var taken = queue.take()
        #expect(taken.packets.compactMap(\.sequence) == [1, 2, 5])
        #expect(taken.lost == 4)
        #expect(queue.push([packet(8)]), "after a take the next batch wakes the consumer again")
        #expect(queue.overrun() == false)
        taken = queue.take()
        #expect(taken.packets.compactMap(\.sequence) == [8])
        #expect(taken.lost == 0 && taken.overrun)
        #expect(queue.overrun(), "ENOBUFS alone wakes the consumer: the interval must report it")
    }
}

/// Where rampartd's messages go: journal fields for upper-case metadata, the stream check.
@Suite struct DaemonLogTests {
    @Test func journalFieldsAndTheStreamCheck() {
        #expect(DaemonLog.isJournalField("RAMPART_FILTER") && DaemonLog.isJournalField("MESSAGE_ID"))
        #expect(
            !DaemonLog.isJournalField("filter") && !DaemonLog.isJournalField("_PID")
                && !DaemonLog.isJournalField("RAMPART-X"))
        let fields = DaemonLog.fields(
            level: .notice, message: "drop in F3",
            metadata: ["RAMPART_FILTER": "F3", "MESSAGE_ID": "abc", "peer": "uid 0"],
            file: "Drops.swift", function: "f()", line: 7)
        #expect(
            fields == [
                "MESSAGE=drop in F3 peer=uid 0", "PRIORITY=5", "SYSLOG_IDENTIFIER=rampartd", "CODE_FILE=Drops.swift",
                "CODE_LINE=7",
                "CODE_FUNC=f()", "MESSAGE_ID=abc", "RAMPART_FILTER=F3"
            ])
        var info = stat()
        fstat(2, &info)
        #expect(DaemonLog.stderrIsJournal("\(info.st_dev):\(info.st_ino)"), "stderr is the stream JOURNAL_STREAM names")
        #expect(
            !DaemonLog.stderrIsJournal("\(info.st_dev):\(info.st_ino + 1)") && !DaemonLog.stderrIsJournal(nil)
                && !DaemonLog.stderrIsJournal("x"))
    }
}
