import CNetfilter
import Foundation
import Glibc
import Logging
import Testing
import RampartCompiler
@testable import RampartDaemon
import RampartNetlink
import RampartNetlinkFake
import RampartPolicy
import RampartSystem

/// The services that follow the kernel — routes, nftables notifications, NFLOG — driven through
/// the same `NotificationTransport` as the real sockets, fed recorded datagrams: no root, no
/// namespace, every step counted.
@Suite struct KernelServiceTests {
    static let quiet = Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Runs `services` under the supervisor, waits until each runs, then `body`; stops them after.
    static func running(_ services: [DaemonService], on f: EngineFixture, _ body: () async throws -> Void) async throws
    {
        let supervisor = Task { await Supervisor.run(services, engine: f.engine, logger: quiet) }
        let names = services.map(\.name)
        let started = await eventually {
            let states = await f.engine.serviceStates()
            return names.allSatisfy { if case .running = states[$0] { true } else { false } }
        }
        let states = await f.engine.serviceStates()
        #expect(started, "\(states)")
        do {
            try await body()
        } catch {
            supervisor.cancel()
            await supervisor.value
            throw error
        }
        supervisor.cancel()
        await supervisor.value
    }

    static let gatewayPolicy = """
        pushd ipsec static
        add filteraction name=Permit action=permit
        add filter filterlist=Gw srcaddr=me dstaddr=GATEWAY protocol=icmp
        add policy name=P assign=yes
        add rule name=gw policy=P filterlist=Gw filteraction=Permit
        popd
        """

    @Test func aRouteChangeRefillsTheGatewaySetAlone() async throws {
        let f = try EngineFixture(policy: Self.gatewayPolicy)
        try await f.start()
        let routes = RecordedNotifications()
        try await Self.running([Services.routes(subscribe: { routes }), Services.timers()], on: f) {
            let before = f.transport.transactions.count
            f.routingTable.set([DefaultGateway(address: IPAddress("198.51.100.1")!)])
            routes.feed([
                .datagram(
                    KernelDatagrams.route(family: UInt8(AF_INET), destinationLength: 0, gateway: [198, 51, 100, 1]))
            ])
            #expect(
                await eventually {
                    await f.engine.addressBook().types.first { $0.type == "GATEWAY" }?.addresses == ["198.51.100.1"]
                })
            let after = Array(f.transport.transactions.dropFirst(before))
            #expect(after.count == 1 && after.allSatisfy(\.isSetOnly), "one set-only transaction: \(after.map(\.text))")
            // Lost notifications (ENOBUFS) mean "read the routes again" too.
            f.routingTable.set([DefaultGateway(address: IPAddress("198.51.100.2")!)])
            routes.feed([.overrun])
            #expect(
                await eventually {
                    await f.engine.addressBook().types.first { $0.type == "GATEWAY" }?.addresses == ["198.51.100.2"]
                })
            #expect(f.transport.transactions.count == before + 2)
        }
    }

    @Test func aForeignTableDeletionIsRestoredAndOurOwnChangesAreNot() async throws {
        let f = try EngineFixture()
        try await f.start()
        let nft = RecordedNotifications()
        try await Self.running([Services.nftablesMonitor(subscribe: { nft })], on: f) {
            // Our own commit, notified back to us: nothing to do.
            nft.feed([
                .datagram(
                    KernelDatagrams.nftables(NFT_MSG_NEWRULE, table: "rampart", portID: f.transport.portID)
                        + KernelDatagrams.newgen(process: "rampartd", pid: 1))
            ])
            // Someone deletes the table: it is put back at once.
            f.transport.deleteTableExternally()
            nft.feed([
                .datagram(
                    KernelDatagrams.nftables(NFT_MSG_DELTABLE, table: "rampart", portID: 500)
                        + KernelDatagrams.newgen(process: "nft", pid: 1234))
            ])
            #expect(await eventually { await f.engine.status().restores == 1 })
            #expect(f.transport.hasTable)
            #expect(nft.taken == 2, "both transactions were read, only the foreign one restored")
            // Notifications lost while nobody committed after us: the table is as we left it.
            nft.feed([.overrun])
            #expect(await eventually { nft.taken == 3 })
            // Lost while someone else committed: restored, as if deleted.
            f.transport.commitExternally()
            nft.feed([.overrun])
            #expect(await eventually { await f.engine.status().restores == 2 })
        }
    }

    @Test func aBurstOfNflogPacketsWithASequenceGapIsCountedAsLost() async throws {
        let f = try EngineFixture()
        try await f.start()
        let nflog = RecordedNotifications()
        let service = Services.dropLog(group: 7) { group in NflogSocket(group: group, transport: nflog) }
        try await Self.running([service], on: f) {
            let payload = DropLogTests.udp(from: [203, 0, 113, 8], port: 9)
            // One datagram of three packets; sequence 3 and 4 never came (the kernel's socket buffer was full).
            let burst = [1, 2, 5].flatMap {
                KernelDatagrams.nflogPacket(
                    prefix: "rampart invalid ", hook: 1, indev: 1, payload: payload, sequence: $0)
            }
            nflog.feed([.datagram(burst)])
            #expect(await eventually { await f.engine.dropIntervalRunning })
            #expect(await eventually { nflog.taken == 1 })
            await f.engine.fireDueTimers(now: .now + .seconds(86_401))
            let summary = try #require(await f.engine.lastDrops())
            #expect(
                summary.records.map { "\($0.key.kind.rawValue) \($0.key.source) \($0.count)" } == [
                    "invalid 203.0.113.8 3"
                ])
            #expect(summary.lost == 2, "sequence 2 → 5: two packets the kernel could not deliver")
        }
    }

    @Test func aSubscriptionThatFailsFailsItsServiceWithTheErrno() async throws {
        let f = try EngineFixture()
        try await f.start()
        let routes = RecordedNotifications()
        let supervisor = Task {
            await Supervisor.run(
                [Services.routes(subscribe: { routes })], engine: f.engine, logger: Self.quiet,
                firstBackoff: .seconds(60))
        }
        #expect(
            await eventually { if case .running = await f.engine.serviceStates()["routes"] { true } else { false } })
        routes.fail(NetlinkError("receiving route notifications: No buffer space available", errno: ENOBUFS))
        #expect(await eventually { await f.engine.serviceStates()["routes"]?.isFailed == true })
        let problems = await f.engine.status().problems
        #expect(
            problems.contains(
                "service routes stopped: receiving route notifications: No buffer space available (errno 105); restarting in 60.0 seconds"
            ), "\(problems)")
        supervisor.cancel()
        await supervisor.value
    }
}
