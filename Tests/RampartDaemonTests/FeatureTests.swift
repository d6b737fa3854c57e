import Foundation
import Testing
import RampartCompiler
@testable import RampartDaemon
@testable import RampartIPsec
import RampartNetlink
import RampartPolicy
import RampartReport
import RampartSystem

/// Each feature's state on its own: its transitions and the effects they hand the engine, with
/// no engine, no kernel and no clock but the ones passed in.
@Suite struct TimersTests {
    @Test func dueTimersComeOutEarliestFirstAndOnce() {
        var timers = Timers()
        let t0 = ContinuousClock.now
        timers.schedule(.metricsFile, at: t0 + .seconds(3))
        timers.schedule(.restoreRetry, at: t0 + .seconds(1))
        timers.schedule(.dropSummary, at: t0 + .seconds(9))
        // Arming a kind again replaces it: each kind at most once.
        timers.schedule(.metricsFile, at: t0 + .seconds(2))
        #expect(timers.next == t0 + .seconds(1))
        #expect(timers.takeDue(at: t0 + .seconds(5)) == [.restoreRetry, .metricsFile])
        #expect(timers.takeDue(at: t0 + .seconds(5)) == [])
        #expect(timers[.dropSummary] == t0 + .seconds(9))
        timers.cancel(.dropSummary)
        #expect(timers.next == nil)
    }

    /// The defect of the second wave: the lease expiry shared the refresh's debounce slot.
    @Test func leaseExpiryAndRefreshAreSeparateSlots() {
        var timers = Timers()
        let t0 = ContinuousClock.now
        timers.schedule(.leaseExpiry, at: t0 + .seconds(600))
        #expect(timers[.refresh(.dhcp)] == nil, "a source change is still debounced on its own")
        timers.schedule(.refresh(.dhcp), at: t0 + .milliseconds(2))
        #expect(timers.takeDue(at: t0 + .seconds(1)) == [.refresh(.dhcp)])
        #expect(timers[.leaseExpiry] != nil)
    }
}

@Suite struct HealthBoardTests {
    @Test func aProblemIsNewOnceAndDegradesUntilCleared() {
        var board = HealthBoard()
        #expect(board.verdict == .running)
        #expect(board.report(.store, "corrupt") == true)
        #expect(board.report(.store, "corrupt") == false, "the same text again is not logged again")
        #expect(board.report(.store, "gone") == true)
        #expect(board.report(.boot, "no boot file") == true)
        #expect(board.list.map(\.area) == [.boot, .store], "in a fixed order")
        board.clear(.store)
        board.clear(.boot)
        #expect(board.verdict == .running)
    }

    @Test func servicesSettleAndKeepTheirFailureCount() {
        var board = HealthBoard()
        board.expect(["routes", "drops"])
        #expect(!board.settled)
        #expect(board.running("routes", since: Date()) == false)
        let text = board.failed("drops", reason: "EPERM", at: Date(timeIntervalSince1970: 0), retryIn: .seconds(2))
        #expect(text == "service drops stopped: EPERM; restarting in 2.0 seconds")
        #expect(board.settled, "a failed service has settled too")
        #expect(
            board.services["drops"]
                == .failed(reason: "EPERM", at: Date(timeIntervalSince1970: 0), retry: Date(timeIntervalSince1970: 2)))
        _ = board.report(.service("drops"), text)
        #expect(board.running("drops", since: Date()) == true, "running again after a failure")
        #expect(board.problems[.service("drops")] == nil)
        #expect(board.failures["drops"]?.count == 1 && board.failures["drops"]?.last == "EPERM")
    }
}

/// A reader's queue as drop accounting sees it: what it accounted for, and whether it is idle.
final class FakeDropSource: DropSource, @unchecked Sendable {
    var accounted = 0
    var idleAt: Int? = 0
    var holding = false
    func quiet() -> Int? { idleAt }
}

@Suite struct DropLoggingTests {
    static let settings = DropLogging.Settings(interval: 60, recordLimit: 100)
    static let t0 = Date(timeIntervalSince1970: 1_000_000)

    @Test func noIntervalRunsUntilTheFirstDropAndItsSummaryCountsTheLoss() {
        var drops = DropLogging()
        let foreign = NflogPacket(
            family: 2, hook: 1, prefix: "iptables DROP ", inInterface: 1,
            payload: [0x45] + [UInt8](repeating: 0, count: 19))
        #expect(
            drops.logged([foreign], lost: 0, overrun: false, at: Self.t0, ruleset: Ruleset(), settings: Self.settings) {
                _ in "eth0"
            } == [])
        #expect(drops.current == nil, "another table's log rule is no drop of ours")
        let effects = drops.logged(
            [], lost: 3, overrun: false, at: Self.t0, ruleset: Ruleset(), settings: Self.settings
        ) { _ in "" }
        #expect(effects == [.schedule(.dropSummary, after: .seconds(60))])
        #expect(
            drops.logged([], lost: 2, overrun: false, at: Self.t0, ruleset: Ruleset(), settings: Self.settings) { _ in
                ""
            } == [],
            "one summary per interval")
        let summary = drops.finish(at: Self.t0.addingTimeInterval(60))
        #expect(summary?.lost == 5)
        #expect(drops.totals.lost == 5 && drops.lastSummary == summary)
        #expect(drops.finish(at: Self.t0) == nil)
    }

    @Test func anOverrunIsReconciledWithTheKernelsCount() {
        var drops = DropLogging()
        let source = FakeDropSource()
        source.accounted = 10
        drops.attach(source, kernel: 10)
        #expect(
            drops.logged([], lost: 0, overrun: true, at: Self.t0, ruleset: Ruleset(), settings: Self.settings) { _ in ""
            }
                == [.schedule(.dropSummary, after: .seconds(60)), .schedule(.dropReconcile, after: .milliseconds(100))])
        source.idleAt = nil
        #expect(
            drops.reconcile(at: Self.t0, Self.settings)
                == .done([.schedule(.dropReconcile, after: .milliseconds(100))]), "busy: later")
        source.idleAt = 7
        #expect(drops.reconcile(at: Self.t0, Self.settings) == .readKernel(events: 7))
        #expect(drops.kernelCounted(.success(25), events: 7) == [.schedule(.dropReconcile, after: .milliseconds(30))])
        source.accounted = 20
        guard case .done(let effects) = drops.reconcile(at: Self.t0, Self.settings) else {
            Issue.record("no step")
            return
        }
        // The kernel logged 15 since the baseline; the reader saw or counted 10: 5 never came.
        #expect(effects.count == 1)
        #expect(drops.current?.current(at: 0).lost == 5)
        #expect(drops.reconciliation == .idle)
    }

    /// Idle means every packet the kernel logged came (or was counted lost) and is summarised.
    @Test func activityIsIdleOnlyOnceEveryLoggedPacketIsSummarised() {
        var drops = DropLogging()
        #expect(drops.activity(kernel: 0).unread == nil, "no reader: unknown, never idle")
        let source = FakeDropSource()
        source.accounted = 4
        drops.attach(source, kernel: 10)
        #expect(drops.activity(kernel: 10).idle)
        #expect(drops.activity(kernel: 13).unread == 3 && !drops.activity(kernel: 13).idle, "3 not read yet")
        #expect(drops.activity(kernel: nil).unread == nil)
        source.accounted = 7
        source.holding = true
        #expect(drops.activity(kernel: 13).collecting, "read, not yet taken by the engine")
        source.holding = false
        _ = drops.logged([], lost: 3, overrun: false, at: Self.t0, ruleset: Ruleset(), settings: Self.settings) {
            _ in ""
        }
        #expect(drops.activity(kernel: 13).collecting)
        _ = drops.finish(at: Self.t0.addingTimeInterval(60))
        let done = drops.activity(kernel: 13)
        #expect(done.idle && done.intervals == 1, "\(done.description)")
        #expect(done.description == "idle; 1 interval(s) logged")
        drops.rulesReplaced()
        #expect(drops.activity(kernel: 0).idle, "new rules count from 0")
    }

    @Test func aRulesetReplacedMidwayStartsTheReconciliationAgain() {
        var drops = DropLogging()
        let source = FakeDropSource()
        drops.attach(source, kernel: 0)
        _ = drops.logged([], lost: 0, overrun: true, at: Self.t0, ruleset: Ruleset(), settings: Self.settings) { _ in ""
        }
        #expect(drops.reconcile(at: Self.t0, Self.settings) == .readKernel(events: 0))
        _ = drops.kernelCounted(.success(4), events: 0)
        drops.rulesReplaced()
        #expect(
            drops.reconcile(at: Self.t0, Self.settings) == .done([.schedule(.dropReconcile, after: .milliseconds(100))])
        )
        #expect(drops.reconciliation == .wanted)
        struct Refused: Error {}
        #expect(drops.reconcile(at: Self.t0, Self.settings) == .readKernel(events: 0))
        #expect(
            drops.kernelCounted(.failure(Refused()), events: 0).last == .schedule(.dropReconcile, after: .seconds(1)))
    }
}

@Suite struct IPsecStateTests {
    static func plan(_ name: String) -> IPsecPlan {
        var plan = IPsecPlan()
        plan.connections = [
            IPsecPlan.Connection(
                name: name, origin: "rule 1 of policy 'P'", version: 2, remoteAddresses: ["192.0.2.9"],
                proposals: ["aes128-sha256-modp2048"], rekeySeconds: 28_800, authentication: .psk,
                children: [], remoteID: "192.0.2.9")
        ]
        return plan
    }

    @Test func aHostThatDoesNotNegotiateNeedsNoCharon() {
        var ipsec = IPsecState()
        #expect(ipsec.sync(IPsecPlan(), failing: false) == .done([.cancel(.ipsecRetry), .clear(.ipsec)]))
        #expect(!ipsec.negotiates)
        #expect(ipsec.eventsConnected() == [])
    }

    @Test func anUnchangedPlanIsLoadedAgainOnlyAfterAFailureOrAReload() {
        var ipsec = IPsecState()
        let plan = Self.plan("rampart-l1")
        #expect(ipsec.sync(plan, failing: false) == .load(warnings: []))
        #expect(ipsec.loadSucceeded(plan, IPsecSync.Report()).contains(.ringIPsec))
        #expect(ipsec.negotiates)
        #expect(ipsec.sync(plan, failing: false) == .done([]))
        #expect(ipsec.sync(plan, failing: true) == .load(warnings: []))
        ipsec.reloadRequested()
        #expect(ipsec.sync(plan, failing: false) == .load(warnings: []))
        #expect(ipsec.sync(plan, failing: false) == .done([]), "the reload's request is used once")
        #expect(ipsec.eventsConnected() == [.syncIPsec], "a charon that restarted forgot our connections")
        #expect(ipsec.sync(plan, failing: false) == .load(warnings: []))
    }

    @Test func failuresBackOffFromOneToThirtySeconds() {
        var ipsec = IPsecState()
        var delays: [Effect] = []
        for _ in 0..<7 {
            delays += ipsec.loadFailed(ViciError(.unreachable, "no socket"), socket: "/run/charon.vici").filter {
                if case .schedule = $0 { true } else { false }
            }
        }
        #expect(delays == [1, 2, 4, 8, 16, 30, 30].map { Effect.schedule(.ipsecRetry, after: .seconds($0)) })
    }

    @Test func aFailureIsCountedAlwaysAndLoggedOnceInTenSeconds() {
        var ipsec = IPsecState()
        let plan = Self.plan("rampart-l1")
        _ = ipsec.loadSucceeded(plan, IPsecSync.Report())
        let t0 = Date(timeIntervalSince1970: 0)
        let first = ipsec.event(.failure(connection: "rampart-l1", peer: nil, reason: "no proposal chosen"), at: t0)
        guard case .log(.warning, let text, let fields) = first.first else {
            Issue.record("\(first)")
            return
        }
        #expect(
            text
                == "IKE security association negotiation failed with 192.0.2.9 (rule 1 of policy 'P'): no proposal chosen"
        )
        #expect(fields["MESSAGE_ID"] == IPsecState.failureMessageID && fields["RAMPART_PEER"] == "192.0.2.9")
        #expect(
            ipsec.event(
                .failure(connection: "rampart-l1", peer: nil, reason: "no proposal chosen"),
                at: t0.addingTimeInterval(9)) == [])
        #expect(
            ipsec.event(
                .failure(connection: "rampart-l1", peer: nil, reason: "no proposal chosen"),
                at: t0.addingTimeInterval(11)
            ).count == 1)
        _ = ipsec.event(.ikeUp(connection: "rampart-l1", peer: "192.0.2.9"), at: t0)
        #expect(ipsec.stats.failures == 3 && ipsec.stats.failuresSuppressed == 1 && ipsec.stats.ikeUp == 1)
        #expect(ipsec.line?.contains("IKE_SAs up 1") == true && ipsec.line?.contains("negotiation failures 3") == true)
    }
}

@Suite struct FleetStateTests {
    static func layer(_ revision: Int64, cached: Bool) -> DomainLayer {
        DomainLayer(group: "web", revision: revision, arrived: 0, cached: cached, store: PolicyStore())
    }

    @Test func aCachedPolicyIsConfirmedOnceAndARefusalKeepsTheOneInForce() {
        var fleet = FleetState()
        #expect(fleet.confirms(group: "web", revision: 7) == nil)
        #expect(fleet.adopt(Self.layer(7, cached: true)) == nil)
        #expect(fleet.confirms(group: "web", revision: 7)?.count == 1)
        #expect(fleet.confirms(group: "web", revision: 7) == [], "confirmed once")
        #expect(fleet.confirms(group: "db", revision: 7) == nil)
        #expect(
            fleet.refuse(8, "syntax") == [
                .report(.domain, "domain policy revision 8 refused: syntax; revision 7 stays in force")
            ])
        let report = fleet.hostReport(
            host: "h1", health: "degraded", problems: ["x"], at: Date(timeIntervalSince1970: 0))
        #expect(report.revision == 7 && report.refusedRevision == 8 && report.error == "syntax")
        #expect(fleet.accepted() == [.clear(.domain)])
        #expect(fleet.refused == nil)
        #expect(fleet.adopt(nil)?.revision == 7)
        #expect(fleet.line == nil)
    }

    /// A revision that cut SSH sessions says so in the host's report until one that cuts none.
    @Test func sessionsARevisionCutAreReportedUntilTheNextOne() {
        var fleet = FleetState()
        _ = fleet.adopt(Self.layer(9, cached: false))
        #expect(
            fleet.accepted(cutting: ["session 198.51.100.7:50000 -> 192.0.2.10:22: …"], revision: 9) == [
                .clear(.domain),
                .log(
                    .warning,
                    "domain policy revision 9 cut an SSH session: session 198.51.100.7:50000 -> 192.0.2.10:22: …")
            ])
        let at = Date(timeIntervalSince1970: 0)
        #expect(
            fleet.hostReport(host: "h", health: "running", problems: [], at: at).cutSessions == [
                "revision 9 cut session 198.51.100.7:50000 -> 192.0.2.10:22: …"
            ])
        _ = fleet.adopt(Self.layer(10, cached: false))
        #expect(fleet.accepted(cutting: [], revision: 10) == [.clear(.domain)])
        #expect(fleet.hostReport(host: "h", health: "running", problems: [], at: at).cutSessions == nil)
    }
}

@Suite struct AddressBookTests {
    static let a = IPAddress("192.0.2.53")!, b = IPAddress("198.51.100.53")!

    @Test func aSourceIsRecordedAndOnlyAChangeIsOne() {
        var book = AddressBook()
        #expect(
            book.record(.dns, [], source: "/etc/resolv.conf", at: Date()) == false, "first read: provenance, no change")
        #expect(book.provenance[.dns]?.source == "/etc/resolv.conf")
        #expect(book.record(.dns, [Self.a], source: "/etc/resolv.conf", at: Date()) == true)
        #expect(book.record(.dns, [Self.a], source: "/etc/resolv.conf", at: Date()) == false)
        #expect(book.record(.dhcp, [], source: "", at: Date()) == false)
        #expect(book.provenance[.dhcp]?.source == "no lease names one")
    }

    @Test func advertisedRoutersAreLoggedOnceAndTakenOnlyWhenTrusted() {
        var book = AddressBook()
        let routes = [DefaultGateway(address: Self.a), DefaultGateway(address: Self.b, fromRouterAdvertisement: true)]
        let (taken, said) = book.trustedGateways(routes, trustAdvertised: false)
        #expect(taken == [Self.a] && said.count == 1)
        #expect(book.trustedGateways(routes, trustAdvertised: false).1 == [], "each router is said once")
        #expect(book.trustedGateways(routes, trustAdvertised: true).0 == [Self.a, Self.b])
    }

    @Test func oneRoundOfLookupsAtATimeAndAFailureKeepsTheAddresses() {
        var book = AddressBook()
        #expect(book.resolve(["a.example"]) == [.cancel(.resolveNames), .ringLookup])
        #expect(book.resolve(["a.example"]) == [], "a round is out")
        #expect(book.takeLookups() == ["a.example"])
        #expect(book.takeLookups() == nil)
        let effects = book.resolved(["a.example": .success([Self.a])], at: Date(), refresh: .seconds(300))
        #expect(effects.suffix(2) == [.updateSets(["a.example"]), .schedule(.resolveNames, after: .seconds(300))])
        let failed = book.resolved(
            ["a.example": .failure(HostLookupError(message: "SERVFAIL"))], at: Date(), refresh: .seconds(300))
        #expect(failed.count == 2 && !failed.contains { if case .updateSets = $0 { true } else { false } })
        #expect(book.addresses.names["a.example"] == [Self.a])
        #expect(book.failedLookups.map(\.0) == ["a.example"])
    }
}

@Suite struct ConfirmationAndTableTests {
    @Test func eachChangeHasItsOwnTokenAndEndingDisarmsIt() {
        var confirmation = Confirmation()
        let first = confirmation.begin(deadline: Date(), previousStore: Store(), previousDynamic: DynamicState())
        #expect(confirmation.end() == [.cancel(.confirmDeadline(token: first.token))])
        let second = confirmation.begin(deadline: Date(), previousStore: Store(), previousDynamic: DynamicState())
        #expect(second.token != first.token)
        #expect(confirmation.waiting(first.token) == nil, "the first change's deadline rolls nothing back")
        #expect(confirmation.waiting(second.token)?.token == second.token)
        #expect(confirmation.end().count == 1 && confirmation.end() == [])
    }

    @Test func appliesAreRecordedAndRestoresBackOffToFiveSeconds() {
        var table = TableState()
        table.deferBoot(.nothing)
        #expect(table.bootDeferred)
        table.committed(.nothing, generation: 4, at: Date(), milliseconds: 500, result: "3 rules", whole: true)
        table.failed(at: Date(), milliseconds: 250, error: "EPERM")
        #expect(!table.bootDeferred && table.totals == ApplyTotals(applies: 1, failures: 1, seconds: 0.75))
        #expect(table.lastApply?.ok == false)
        #expect(
            table.isAsLeft(generationNow: 4) && !table.isAsLeft(generationNow: 5) && !table.isAsLeft(generationNow: nil)
        )
        let delays = (0..<8).map { _ in table.restoreFailed("EBUSY").last }
        #expect(
            delays.map { $0 }
                == [100, 200, 400, 800, 1600, 3200, 5000, 5000].map {
                    Effect.schedule(.restoreRetry, after: .milliseconds($0))
                })
        #expect(table.restored() == [.cancel(.restoreRetry)])
        #expect(table.restores == 1 && table.restoreRetryDelay == nil)
    }

    @Test func aReloadBeforeReadyRunsOnceAtReady() {
        var timeline = Timeline()
        #expect(timeline.mayReload() == false)
        timeline.booted(after: 3)
        timeline.ready(after: 9)
        #expect(timeline.takeDeferredReload() == true)
        #expect(timeline.takeDeferredReload() == false)
        #expect(timeline.mayReload() == true)
    }
}
