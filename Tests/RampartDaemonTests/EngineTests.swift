import Foundation
import Logging
import RampartCompiler
import RampartControl
@testable import RampartDaemon
import RampartNetlink
import RampartNetlinkFake
import RampartPolicy
import RampartReport
import RampartSystem
import Testing

/// The engine's transitions, driven through a recording transport: what is sent to nf_tables,
/// in which order, and what the status says. No root, no namespace.
@Suite struct EngineTests {
    @Test func bootModeThenPolicyThenReady() async throws {
        let f = try EngineFixture()
        try await f.engine.enforceBootMode()
        #expect(f.transport.transactions.count == 1)
        let boot = try #require(f.transport.transactions.first)
        #expect(boot.committed)
        #expect(boot.messages.first == "add table inet rampart")
        #expect(boot.messages.contains { $0.hasPrefix("add rule inet rampart input") }, "\(boot.text)")
        #expect(await f.engine.enforcement.description == "boot mode stateful")
        #expect(!f.messages.contains { $0.contains("READY=1") }, "READY before the policy: \(f.messages)")

        await f.engine.loadPolicy()
        #expect(f.transport.transactions.count == 2)
        let policy = f.transport.transactions[1]
        // The policy replaces the boot ruleset in one transaction: create, delete, create.
        #expect(
            Array(policy.messages.prefix(3)) == [
                "add table inet rampart", "delete table inet rampart", "add table inet rampart"
            ])
        #expect(policy.messages.contains { $0.hasPrefix("add set") && $0.contains("dns") }, "\(policy.text)")
        #expect(await f.engine.enforcement.description == "policy")

        await f.engine.announceReady()
        let ready = try #require(f.notifications.all.first { $0.message.hasPrefix("READY=1") })
        #expect(ready.transactions == 2, "READY=1 only once the policy is committed")
        let order = f.messages.map { $0.split(separator: "\n")[0] }
        #expect(order.firstIndex { $0.hasPrefix("STATUS=boot mode") }! < order.firstIndex { $0.hasPrefix("READY=1") }!)
        #expect(await f.engine.status().state == "running")
    }

    /// A restart (upgrade, crash) finds the previous rampartd's table: the boot mode is not applied
    /// over it (it may permit what the policy blocks); the policy replaces it in one transaction.
    /// When the policy cannot be loaded, the boot mode is enforced after all, as at boot.
    @Test(arguments: [true, false]) func aRestartKeepsThePreviousTableUntilThePolicyReplacesIt(
        storeIsGood: Bool
    ) async throws {
        let f = try EngineFixture()
        if !storeIsGood { try Data("{ not a store".utf8).write(to: URL(fileURLWithPath: f.config.store)) }
        let previous = NftablesClient(transport: f.transport, interfaceIndex: { _ in 7 })
        _ = try previous.apply(RulesetCompiler().compile(try EngineFixture.store(EngineFixture.webServer)))
        try await f.engine.enforceBootMode()
        #expect(f.transport.transactions.count == 1, "nothing over the previous table")
        #expect(await f.engine.enforcement.description == "boot mode stateful")
        await f.engine.loadPolicy()
        #expect(f.transport.transactions.count == 2)
        let next = try #require(f.transport.transactions.last)
        let expected = storeIsGood ? "policy" : "boot mode stateful"
        let enforced = await f.engine.enforcement.description
        #expect(enforced.hasPrefix(expected), "\(enforced)")
        #expect(
            next.committed && next.messages.contains("delete table inet rampart"),
            "one transaction replacing the table: \(next.text)")
    }

    @Test func failedBootApplyIsAnError() async throws {
        let f = try EngineFixture()
        f.transport.rejectNextTransaction(errno: EPERM)
        await #expect(throws: NetlinkError.self) { try await f.engine.enforceBootMode() }
        #expect(await f.engine.enforcement == .nothing)
        #expect(!f.messages.contains { $0.contains("READY=1") })
    }

    @Test func reloadKeepsTheRulesetWhenTheStoreIsCorrupt() async throws {
        let f = try EngineFixture()
        try await f.start()
        let before = f.transport.transactions.count
        let applied = await f.engine.applied
        try "{ not a store".write(toFile: f.config.store, atomically: true, encoding: .utf8)
        let error = await f.engine.reload()
        #expect(error?.contains("the running ruleset stays in force") == true, "\(error ?? "")")
        #expect(f.transport.transactions.count == before, "nothing was sent to the kernel")
        #expect(await f.engine.applied == applied)
        let status = await f.engine.status()
        #expect(status.state == "degraded")
        #expect(status.storeState.hasPrefix("corrupt on disk (running the previous policy)"))
        // The policy in force, then the problem, before anything else.
        let lines = StatusReport.text(status).split(separator: "\n")
        #expect(lines[1].hasPrefix("  policy:      local: "), "\(lines)")
        #expect(lines[1].contains("persistent: none"), "\(lines)")
        #expect(lines[2].hasPrefix("  PROBLEM:     "), "\(lines)")
        // Fixed: the next reload applies and the problem clears. The policy is the one in force:
        // the delta is empty and nothing goes to the kernel.
        try f.storeFile.save(try EngineFixture.store(EngineFixture.webServer))
        #expect(await f.engine.reload() == nil)
        #expect(f.transport.transactions.count == before)
        #expect(await f.engine.status().state == "running")
        #expect(await f.engine.status().lastApply?.result == "unchanged")
    }

    @Test func reloadKeepsTheRulesetWhenTheKernelRefuses() async throws {
        let f = try EngineFixture()
        try await f.start()
        let applied = await f.engine.applied
        // A store that changes the rules (drops are logged), refused by the kernel.
        try f.storeFile.save(
            try EngineFixture.store(EngineFixture.webServer + "\nipsec dynamic set config ipsecdiagnostics 7\n"))
        f.transport.rejectNextTransaction(errno: EINVAL)
        let error = await f.engine.reload()
        #expect(error?.contains("the kernel rejected the new ruleset") == true)
        #expect(await f.engine.applied == applied)
        #expect(f.transport.transactions.last?.committed == false)
        #expect(await f.engine.status().state == "degraded")
    }

    /// A request decodes the store only when the file is not the version rampartd last read or
    /// wrote: another writer's version (a new file renamed into place) is read, never overwritten.
    @Test func aStoreWrittenByAnotherWriterIsReadAgain() async throws {
        let f = try EngineFixture()
        try await f.start()
        #expect(await f.exec("ipsec static add policy name=First\n").ok)
        var other = try f.storeFile.load()
        #expect(other.local.policies.contains { $0.name == "First" })
        // Another writer (the CLI without rampartd, a restore from backup) replaces the file.
        try StoreFile(path: f.storeFile.path).withExclusiveLock {
            var interpreter = Interpreter(store: other)
            try ScriptRunner.run(
                ScriptRunner.lines(of: "ipsec static add policy name=Outside\n", file: "o"), in: &interpreter)
            other = interpreter.store
            try f.storeFile.save(other)
        }
        #expect(await f.exec("ipsec static add policy name=Second\n").ok)
        let names = try f.storeFile.load().local.policies.map(\.name)
        #expect(names.contains("First") && names.contains("Outside") && names.contains("Second"), "\(names)")
    }

    @Test func confirmedChangeStays() async throws {
        let f = try EngineFixture()
        try await f.start()
        let reply = await f.exec(
            "ipsec static add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=8080\n", confirm: 60)
        #expect(reply.ok, "\(reply.error ?? "")")
        #expect(try f.storeFile.loadPending() != nil, "the journal is written before the store")
        #expect(await f.engine.status().pendingDeadline != nil)
        let changed = try f.storeFile.load()
        let confirmed = await f.request(ControlRequest(op: .confirm))
        #expect(confirmed.ok)
        #expect(try f.storeFile.loadPending() == nil)
        // The window passes: nothing is rolled back.
        let count = f.transport.transactions.count
        await f.engine.fireDueTimers(now: .now + .seconds(3600))
        #expect(f.transport.transactions.count == count)
        #expect(try f.storeFile.load() == changed)
        let again = await f.request(ControlRequest(op: .confirm))
        #expect(again.code == .nothingToConfirm)
    }

    @Test func unconfirmedChangeRollsBackStoreAndRuleset() async throws {
        let f = try EngineFixture()
        try await f.start()
        let original = try f.storeFile.load()
        let originalRules = await f.engine.applied
        // An hour's window: a test starved of CPU for many seconds still fires "before" and "after" it.
        let reply = await f.exec("ipsec static set policy name=Server assign=no\n", confirm: 3600)
        #expect(reply.ok, "\(reply.error ?? "")")
        #expect(await f.engine.applied != originalRules)
        // No other change while one waits.
        let blocked = await f.exec("ipsec static add policy name=Other\n")
        #expect(blocked.code == .pendingConfirmation)
        // Before the deadline nothing happens; after it, the previous policy is back.
        await f.engine.fireDueTimers(now: .now + .seconds(5))
        #expect(await f.engine.status().pendingDeadline != nil)
        await f.engine.fireDueTimers(now: .now + .seconds(3601))
        #expect(await f.engine.status().pendingDeadline == nil)
        #expect(try f.storeFile.load() == original)
        #expect(try f.storeFile.loadPending() == nil)
        #expect(await f.engine.applied == originalRules)
        #expect(await f.engine.status().storeState == "loaded; rolled back an unconfirmed change")
    }

    /// rampartd stops (kill, crash, reboot) while a change waits for confirmation: the next start
    /// rolls it back before it loads the policy, whatever time was left — the way out of a lockout.
    @Test func restartDuringConfirmationRollsBack() async throws {
        let first = try EngineFixture()
        try await first.start()
        let original = try first.storeFile.load()
        let reply = await first.exec("ipsec static set policy name=Server assign=no\n", confirm: 3600)
        #expect(reply.ok)
        #expect(try first.storeFile.load() != original)

        // A new engine on the same files, as after a restart.
        let transport = RecordingTransport()
        let second = PolicyEngine(
            config: first.config, configPath: nil, overrides: .init(store: nil, socket: nil),
            client: NftablesClient(transport: transport, interfaceIndex: { _ in 7 }),
            environment: EngineEnvironment(
                notify: { _ in }, gateways: { .success([]) }, resolve: { _ in .success([]) }, readConfig: { _ in nil },
                releaseStartupMemory: {}),
            logger: .init(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await second.enforceBootMode()
        await second.loadPolicy()
        #expect(try first.storeFile.load() == original)
        #expect(try first.storeFile.loadPending() == nil)
        #expect(await second.status().pendingDeadline == nil)
        #expect(await second.store == original)
        #expect(transport.transactions.count == 2)
    }

    @Test func damagedJournalKeepsTheBootRuleset() async throws {
        let f = try EngineFixture()
        try "garbage".write(toFile: f.storeFile.pendingPath, atomically: true, encoding: .utf8)
        try await f.start()
        #expect(f.transport.transactions.count == 1, "only the boot ruleset")
        #expect(await f.engine.enforcement.description == "boot mode stateful")
        #expect(await f.engine.status().state == "degraded")
    }

    /// Lost notifications after our own commit (a 100,000-filter apply floods the monitor's
    /// socket) restore nothing while no transaction came after ours; once one did, the table is
    /// restored (issue 29, item 6: 19 self-restores a minute before).
    @Test func lostNotificationsRestoreOnlyAfterSomeoneElsesTransaction() async throws {
        let f = try EngineFixture()
        try await f.start()
        let before = f.transport.transactions.count
        let overrun = TableChange(operations: [], processName: nil, processID: nil, overrun: true)
        for _ in 0..<5 { await f.engine.tableChanged(overrun) }
        #expect(f.transport.transactions.count == before, "our own flood: nothing re-applied")
        f.transport.deleteTableExternally()
        await f.engine.tableChanged(overrun)
        #expect(
            f.transport.transactions.count == before + 1 && f.transport.hasTable, "a transaction after ours: restored")
        await f.engine.tableChanged(overrun)
        #expect(f.transport.transactions.count == before + 1, "and the restore's own flood restores nothing")
    }

    @Test func foreignDeleteIsRestored() async throws {
        let f = try EngineFixture()
        try await f.start()
        let policy = try #require(f.transport.transactions.last)
        f.transport.deleteTableExternally()
        #expect(!f.transport.hasTable)
        await f.engine.tableChanged(
            TableChange(operations: ["delete table"], processName: "nft", processID: 99, overrun: false))
        #expect(f.transport.hasTable)
        let restore = try #require(f.transport.transactions.last)
        #expect(restore.messages == policy.messages, "the same ruleset, byte for byte")
        #expect(await f.engine.status().restores == 1)
        #expect(await f.engine.status().state == "running")
    }

    /// Found by the soak test: `monitor --once` in the moment between an external delete and its
    /// notification answered "no such table". A counter query that finds the table missing
    /// restores it first, then answers.
    @Test func aCounterQueryInTheDeletionWindowRestoresAndAnswers() async throws {
        let f = try EngineFixture()
        try await f.start()
        let policy = try #require(f.transport.transactions.last)
        for op in [ControlOperation.monitor, .counters, .metrics] {
            f.transport.deleteTableExternally()
            let response = await f.request(ControlRequest(op: op))
            #expect(response.ok, "\(op): \(response.error ?? "")")
            #expect(f.transport.hasTable, "\(op) restored the table")
            #expect(f.transport.transactions.last?.messages == policy.messages)
        }
        #expect(await f.engine.status().restores == 3)
    }

    /// Found by the soak test: a DNS change whose set update ran in the moment the table was
    /// gone failed (ENOENT); the restore put back the ruleset with the old DNS servers and the
    /// problem stayed. The restore is followed by the update it missed.
    @Test func anAddressChangeWhileTheTableIsGoneIsInTheRestoredTable() async throws {
        let f = try EngineFixture()
        try await f.start()
        f.transport.deleteTableExternally()
        try "nameserver 192.0.2.99\n".write(toFile: f.config.resolvConf, atomically: true, encoding: .utf8)
        f.transport.rejectNextTransaction(errno: ENOENT)
        await f.engine.sourceChanged(.dns)
        await f.engine.fireDueTimers(now: .now + .seconds(1))
        #expect(await f.engine.status().problems.contains { $0.contains("updating the DNS sets failed") })
        let before = f.transport.transactions.count
        await f.engine.tableChanged(
            TableChange(operations: ["delete table"], processName: "nft", processID: 99, overrun: false))
        #expect(f.transport.transactions.count == before + 2, "the restore, then the update it missed")
        let update = try #require(f.transport.transactions.last)
        #expect(update.committed && update.isSetOnly, "\(update.text)")
        let dns = await f.engine.enforcement.ruleset?.sets.first { $0.name == "dns_v4" }
        #expect(dns?.elements.map(\.description) == ["192.0.2.99"])
        let status = await f.engine.status()
        #expect(status.problems.isEmpty, "\(status.problems)")
        #expect(status.state == "running")
        // The next restore has nothing to add.
        f.transport.deleteTableExternally()
        await f.engine.tableChanged(
            TableChange(operations: ["delete table"], processName: "nft", processID: 99, overrun: false))
        #expect(f.transport.transactions.count == before + 3)
    }

    @Test func failedRestoreIsRetriedUntilItWorks() async throws {
        let f = try EngineFixture()
        try await f.start()
        f.transport.deleteTableExternally()
        f.transport.rejectNextTransaction(errno: EBUSY)
        await f.engine.tableChanged(
            TableChange(operations: ["delete table"], processName: nil, processID: nil, overrun: false))
        var status = await f.engine.status()
        #expect(status.state == "degraded")
        #expect(status.restoreFailing)
        #expect(StatusReport.text(status).contains("NOTHING: the policy could not be restored"))
        #expect(await f.engine.timers[.restoreRetry] != nil, "a retry is scheduled")
        await f.engine.fireDueTimers(now: .now + .seconds(10))
        status = await f.engine.status()
        #expect(status.state == "running")
        #expect(f.transport.hasTable)
    }

    @Test func serverAddressChangeUpdatesOnlyTheSets() async throws {
        let f = try EngineFixture()
        try await f.start()
        let before = f.transport.transactions.count
        let rules = await f.engine.applied?.ruleCount
        try "nameserver 192.0.2.99\nnameserver 2001:db8::99\n".write(
            toFile: f.config.resolvConf, atomically: true, encoding: .utf8)
        await f.engine.sourceChanged(.dns)
        await f.engine.sourceChanged(.dns)
        await f.engine.fireDueTimers(now: .now + .seconds(1))
        #expect(f.transport.transactions.count == before + 1, "a burst is one update")
        let update = try #require(f.transport.transactions.last)
        #expect(update.committed)
        #expect(update.isSetOnly, "\(update.text)")
        #expect(update.messages.contains { $0.hasPrefix("flush set") })
        #expect(await f.engine.applied?.ruleCount == rules)
        let book = await f.engine.addressBook()
        #expect(book.types.first { $0.type == "DNS" }?.addresses == ["192.0.2.99", "2001:db8::99"])
        // The same content again: nothing is sent.
        await f.engine.sourceChanged(.dns)
        await f.engine.fireDueTimers(now: .now + .seconds(1))
        #expect(f.transport.transactions.count == before + 1)
    }

    /// An expired lease is not current: the DHCP set leaves it out, and a current lease's expiry
    /// is a timer that reads the leases again even though no file changes.
    @Test func expiredLeasesAreLeftOutAndExpiryIsFollowed() async throws {
        let f = try EngineFixture(
            policy: EngineFixture.webServer
                + "\nipsec static add filter filterlist=Web srcaddr=me dstaddr=DHCP protocol=udp dstport=67\n")
        let directory = f.config.dhclientLeases[0]
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        func stamp(_ t: Date) -> String {
            let c = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: t)
            return String(
                format: "%d %04d/%02d/%02d %02d:%02d:%02d", c.weekday! - 1, c.year!, c.month!, c.day!, c.hour!,
                c.minute!, c.second!)
        }
        let now = Date()
        try """
        lease {
          interface "eth0";
          option dhcp-server-identifier 192.0.2.67;
          expire \(stamp(now.addingTimeInterval(-60)));
        }
        lease {
          interface "eth1";
          option dhcp-server-identifier 198.51.100.67;
          expire \(stamp(now.addingTimeInterval(3600)));
        }

        """.write(toFile: directory + "/dhclient.leases", atomically: true, encoding: .utf8)
        try await f.start()
        var book = await f.engine.addressBook()
        #expect(
            book.types.first { $0.type == "DHCP" }?.addresses == ["198.51.100.67"], "eth0's lease expired a minute ago")
        let due = try #require(await f.engine.timers[.leaseExpiry], "a refresh when eth1's lease expires")
        #expect(due <= .now + .seconds(3601) && due > .now + .seconds(3000))
        // Past the lease's end, on the engine's wall clock and its timers.
        f.clockOffset.seconds.withLock { $0 = 3700 }
        await f.engine.fireDueTimers(now: .now + .seconds(3700))
        book = await f.engine.addressBook()
        #expect(
            book.types.first { $0.type == "DHCP" }?.addresses == [],
            "both expired: no DHCP server until the client writes a current lease")
    }

    /// A lease expiry pending must not swallow the lease events that come before it (issue 29,
    /// item 8): a new lease written by dhclient, dhcpcd or networkd is read at once.
    @Test(arguments: ["dhclient", "dhcpcd", "networkd"])
    func leaseChangesWhileAnExpiryIsPendingAreRead(client: String) async throws {
        let f = try EngineFixture(
            policy: EngineFixture.webServer
                + "\nipsec static add filter filterlist=Web srcaddr=me dstaddr=DHCP protocol=udp dstport=67\n")
        func write(_ server: [UInt8]) throws {
            let text = server.map(String.init).joined(separator: ".")
            switch client {
            case "dhclient":
                try FileManager.default.createDirectory(
                    atPath: f.config.dhclientLeases[0], withIntermediateDirectories: true)
                try
                    "lease {\n  interface \"eth0\";\n  option dhcp-server-identifier \(text);\n  expire epoch \(Int(Date().timeIntervalSince1970) + 3600);\n}\n"
                    .write(
                        toFile: f.config.dhclientLeases[0] + "/dhclient.eth0.leases", atomically: true, encoding: .utf8)
            case "dhcpcd":
                try FileManager.default.createDirectory(
                    atPath: f.config.dhcpcdLeases[0], withIntermediateDirectories: true)
                // A DHCPACK naming the server, with a lease time of one hour.
                let message =
                    [UInt8](repeating: 0, count: 236) + [99, 130, 83, 99, 53, 1, 5, 54, 4] + server + [
                        51, 4, 0, 0, 14, 16, 255
                    ]
                try Data(message).write(to: URL(fileURLWithPath: f.config.dhcpcdLeases[0] + "/eth0.lease"))
            default:
                try FileManager.default.createDirectory(
                    atPath: f.config.networkdLeases[0], withIntermediateDirectories: true)
                try "ADDRESS=192.0.2.10\nSERVER_ADDRESS=\(text)\n".write(
                    toFile: f.config.networkdLeases[0] + "/2", atomically: true, encoding: .utf8)
                // networkd's lease has no expiry: another client's lease holds the pending one.
                try FileManager.default.createDirectory(
                    atPath: f.config.dhclientLeases[0], withIntermediateDirectories: true)
                try
                    "lease {\n  interface \"eth9\";\n  option dhcp-server-identifier 203.0.113.67;\n  expire epoch \(Int(Date().timeIntervalSince1970) + 3600);\n}\n"
                    .write(
                        toFile: f.config.dhclientLeases[0] + "/dhclient.eth9.leases", atomically: true, encoding: .utf8)
            }
        }
        try write([192, 0, 2, 67])
        try await f.start()
        #expect(await f.engine.timers[.leaseExpiry] != nil, "an expiry is pending")
        var dhcp = await f.engine.addressBook().types.first { $0.type == "DHCP" }?.addresses ?? []
        #expect(dhcp.contains("192.0.2.67"))
        // The client moves to another server; its watcher reports the change.
        try write([198, 51, 100, 67])
        await f.engine.sourceChanged(.dhcp)
        await f.engine.fireDueTimers(now: .now + .seconds(1))
        dhcp = await f.engine.addressBook().types.first { $0.type == "DHCP" }?.addresses ?? []
        #expect(dhcp.contains("198.51.100.67") && !dhcp.contains("192.0.2.67"), "\(client): \(dhcp)")
        #expect(await f.engine.timers[.leaseExpiry] != nil, "the expiry is still followed")
    }

    @Test func unreadableSourceKeepsTheLastAddresses() async throws {
        let f = try EngineFixture()
        try await f.start()
        let before = f.transport.transactions.count
        try FileManager.default.removeItem(atPath: f.config.resolvConf)
        try FileManager.default.createDirectory(atPath: f.config.resolvConf, withIntermediateDirectories: false)
        await f.engine.sourceChanged(.dns)
        await f.engine.fireDueTimers(now: .now + .seconds(1))
        #expect(f.transport.transactions.count == before)
        let status = await f.engine.status()
        #expect(status.state == "degraded")
        #expect(
            status.problems.contains { $0.contains("DNS servers") && $0.contains("192.0.2.53") }, "\(status.problems)")
    }

    @Test func hostNamesResolveThroughTheLookupQueue() async throws {
        let f = try EngineFixture(
            policy: EngineFixture.webServer
                + "\nipsec static add filter filterlist=Web srcaddr=me dstaddr=update.example.com protocol=tcp dstport=443\n",
            resolve: { _ in .success([IPAddress("203.0.113.10")!]) })
        try await f.start()
        let names = try #require(await f.engine.takeLookups())
        #expect(names == ["update.example.com"])
        let before = f.transport.transactions.count
        await f.engine.namesResolved(["update.example.com": .success([IPAddress("203.0.113.10")!])])
        #expect(f.transport.transactions.count == before + 1)
        #expect(f.transport.transactions.last?.isSetOnly == true)
        #expect(await f.engine.timers[.resolveNames] != nil, "the next round is scheduled")
    }
}
