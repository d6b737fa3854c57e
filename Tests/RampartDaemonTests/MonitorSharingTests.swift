import Foundation
import RampartControl
@testable import RampartDaemon
import RampartReport
import Testing

/// A member's monitor cannot starve root (issue 29, item 5): a frame carries at most
/// `MonitorSnapshot.rowLimit` rows per view with the totals, and clients asking within the same
/// second share one frame (one read of the kernel's counters).
@Suite struct MonitorSharingTests {
    static let policy: String = {
        var lines = ["pushd ipsec static", "add filteraction name=Block action=block"]
        for i in 0..<1200 {
            lines.append(
                "add filter filterlist=Ban srcaddr=198.51.\(100 + i / 250).\(i % 250 + 1) dstaddr=me mirrored=no")
        }
        lines += [
            "add policy name=P assign=yes", "add rule name=b policy=P filterlist=Ban filteraction=Block", "popd", ""
        ]
        return lines.joined(separator: "\n")
    }()

    @Test func framesAreBoundedAndShared() async throws {
        let f = try EngineFixture(policy: Self.policy)
        try await f.start()
        // Every request of this test within one frame's life, however loaded the machine.
        await f.engine.setMonitorFrameLifetime(.seconds(600))
        let dumps = f.transport.ruleDumps
        let replies = await withTaskGroup(of: ControlResponse.self) { group in
            for _ in 0..<8 {
                group.addTask { await f.request(ControlRequest(op: .monitor), from: EngineFixture.member) }
            }
            var out: [ControlResponse] = []
            for await r in group { out.append(r) }
            return out
        }
        let allOK = replies.allSatisfy { $0.ok }
        #expect(allOK)
        #expect(
            f.transport.ruleDumps == dumps + 1,
            "eight clients, one frame: \(f.transport.ruleDumps - dumps) counter reads")
        let json = try #require(replies.first?.json)
        let snapshot = try #require(MonitorSnapshot.decode(json))
        #expect(
            snapshot.generic.count == MonitorSnapshot.rowLimit && snapshot.specific.count == MonitorSnapshot.rowLimit)
        #expect(
            snapshot.totals
                == MonitorSnapshot.Totals(generic: 1200, specific: 1200, counters: snapshot.totals?.counters ?? -1))
        #expect(json.utf8.count < 400_000, "a bounded reply: \(json.utf8.count) bytes")
        let frame = MonitorView.frame(snapshot, previous: nil, height: nil)
        #expect(frame.contains("… 700 more generic filters") && frame.contains("… 700 more specific filters"))
    }
}
