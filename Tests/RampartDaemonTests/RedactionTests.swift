import Foundation
import RampartControl
@testable import RampartDaemon
import RampartPolicy
import Testing

/// Pre-shared keys are root's (issue 29, item 7): every query a group member may make, in text
/// and JSON, names no key of a static rule, a default response rule or a dynamic rule; root's
/// `dump` still has them all.
@Suite struct RedactionTests {
    static let keys = ["static-key-1f9", "default-key-7c2", "dynamic-key-e41"]

    static let policy = """
        pushd ipsec static
        add filteraction name=N action=negotiate
        add filter filterlist=L srcaddr=me dstaddr=192.0.2.7 protocol=tcp dstport=5001
        add policy name=P assign=yes
        add rule name=R policy=P filterlist=L filteraction=N psk=static-key-1f9
        set defaultrule policy=P psk=default-key-7c2
        popd

        """

    static let dynamicRules = """
        ipsec dynamic add mmpolicy name=MM
        ipsec dynamic add qmpolicy name=QM
        ipsec dynamic add rule srcaddr=me dstaddr=192.0.2.9 protocol=tcp dstport=22 mmpolicy=MM qmpolicy=QM psk=dynamic-key-e41

        """

    static var memberQueries: [ControlRequest] {
        let netsh: [[String]] = [
            ["static", "show", "all"], ["static", "show", "rule", "all"], ["static", "show", "policy", "all"],
            ["static", "show", "rule", "name=R", "policy=P", "verbose"],
            ["static", "exportpolicy", "file=export.ipsec"],
            ["dynamic", "show", "all"], ["dynamic", "show", "rule"], ["dynamic", "show", "qmfilter", "all"]
        ]
        var requests = netsh.map { ControlRequest(op: .netsh, args: $0) }
        requests += [ControlOperation.status, .active, .dump, .dynamic, .counters, .metrics, .monitor].map {
            ControlRequest(op: $0)
        }
        requests.append(ControlRequest(op: .explain, args: ["out", "tcp", "me:40000", "to", "192.0.2.7:5001"]))
        requests.append(
            ControlRequest(
                op: .exec, name: "show.netsh",
                script: "ipsec static show all\nipsec static exportpolicy file=x.ipsec\n", dryRun: true))
        requests.append(
            ControlRequest(op: .import, name: "show.cmd", script: "netsh ipsec static show all\r\n", dryRun: true))
        return requests
    }

    func text(_ reply: ControlResponse) -> String {
        ([reply.text, reply.json ?? "", reply.error ?? ""] + (reply.files ?? []).map { $0.contents }).joined(
            separator: "\n")
    }

    @Test func membersNeverSeeAPresharedKey() async throws {
        let f = try EngineFixture(policy: Self.policy)
        try await f.start()
        // No charon here: the negotiating rules are applied, and the request says they are not negotiated.
        let applied = await f.exec(Self.dynamicRules)
        #expect(applied.ok || applied.code == .ipsec, "\(applied.error ?? "")")
        for request in Self.memberQueries {
            let reply = await f.request(request, from: EngineFixture.member)
            #expect(reply.code != .denied, "\(request.op) \(request.args ?? [])")
            let all = text(reply)
            for key in Self.keys {
                #expect(!all.contains(key), "\(request.op) \(request.args ?? []) shows \(key) to a member:\n\(all)")
            }
        }
        // A member's dump says the keys are withheld; root's has them.
        let member = await f.request(ControlRequest(op: .dump), from: EngineFixture.member)
        #expect(member.text.contains(AuthMethod.redactedKey))
        let root = await f.request(ControlRequest(op: .dump), from: EngineFixture.root)
        #expect(root.text.contains("static-key-1f9") && root.text.contains("default-key-7c2"))
        let rootDynamic = await f.request(
            ControlRequest(op: .netsh, args: ["dynamic", "show", "rule"]), from: EngineFixture.root)
        #expect(
            text(rootDynamic).contains("dynamic-key-e41") || !text(rootDynamic).contains("psk"),
            "root's view is not redacted")
    }
}
