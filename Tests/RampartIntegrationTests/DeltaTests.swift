import Foundation
import Testing
import RampartCompiler
import RampartNamespaceKit
import RampartPolicy
import RampartTestKit

/// Delta transactions against the differential oracle: after every step of a random sequence of
/// policy edits applied as deltas, `nft list ruleset` must equal a fresh apply of the same policy.
@Suite(.serialized) struct DeltaTests {
    /// A policy that random edits change as rampartd's requests do, on the store in force (filters
    /// keep their ids): four filter lists (grouped shapes of both families, mirrored and one-way,
    /// port lists and ranges, an address group), the actions of their rules, drop logging, the
    /// address group's members and the DNS servers.
    struct Editor {
        var rng: SplitMix
        var filters: [String] = []
        var store = Store()
        var addresses = DynamicAddresses()
        var serial = 0

        init(seed: UInt64) throws {
            rng = SplitMix(state: seed)
            var script = [
                "pushd ipsec static", "add filteraction name=Permit action=permit",
                "add filteraction name=Block action=block",
                "add addressgroup name=Admins addresses=192.0.2.10,2001:db8:1::/48",
                "add filter filterlist=Dns srcaddr=me dstaddr=DNS protocol=udp dstport=53"
            ]
            for list in ["Svc", "Web", "Ban", "Ext"] { script.append("add filterlist name=\(list)") }
            for _ in 0..<24 {
                let filter = randomFilter()
                filters.append(filter)
                script.append("add filter \(filter)")
            }
            script += ["add policy name=P assign=yes", "add rule name=dns policy=P filterlist=Dns filteraction=Permit"]
            for (list, action) in [("Svc", "Permit"), ("Web", "Permit"), ("Ban", "Block"), ("Ext", "Permit")] {
                script.append("add rule name=\(list) policy=P filterlist=\(list) filteraction=\(action)")
            }
            try run(script.joined(separator: "\n") + "\npopd\n")
            addresses.dns = [IPAddress("192.0.2.53")!]
        }

        mutating func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }

        mutating func randomFilter() -> String {
            serial += 1
            let list = ["Svc", "Web", "Ban", "Ext"][pick(4)]
            let v6 = pick(3) == 0
            let host = serial % 250 + 1
            let source: String
            switch pick(4) {
            case 0: source = v6 ? "2001:db8:\(serial % 7)::/48" : "198.51.\(serial % 7).0 srcmask=24"
            case 1: source = "any"
            case 2: source = "group:Admins"
            default: source = v6 ? "2001:db8:3::\(host)" : "203.0.113.\(host)"
            }
            var line = "filterlist=\(list) srcaddr=\(source) dstaddr=me"
            switch list {
            case "Ban": line += pick(2) == 0 ? " mirrored=no" : " protocol=tcp dstport=\(serial % 40 + 1)"
            case "Ext":
                line +=
                    pick(2) == 0
                    ? " protocol=tcp dstport=\(serial % 9 + 1),443" : " protocol=udp dstport=3000-3\(serial % 9)99"
            default:
                line +=
                    " protocol=\(pick(2) == 0 ? "tcp" : "udp") dstport=\(serial % 30 + 20)\(pick(2) == 0 ? " mirrored=no" : "")"
            }
            return line
        }

        mutating func run(_ script: String) throws {
            var interpreter = Interpreter(store: store)
            try ScriptRunner.run(ScriptRunner.lines(of: script, file: "edits.netsh"), in: &interpreter)
            store = interpreter.store
        }

        /// One random edit, made; what it was.
        mutating func edit() throws -> String {
            switch pick(10) {
            case 0...3:
                let filter = randomFilter()
                filters.append(filter)
                try run("ipsec static add filter \(filter)\n")
                return "add filter \(filter)"
            case 4...6:
                guard !filters.isEmpty else { return try edit() }
                let filter = filters.remove(at: pick(filters.count))
                try run("ipsec static delete filter \(filter)\n")
                return "delete filter \(filter)"
            case 7:
                let list = ["Svc", "Web", "Ban", "Ext"][pick(4)]
                let action = pick(2) == 0 ? "Permit" : "Block"
                try run("ipsec static set rule name=\(list) policy=P filteraction=\(action)\n")
                return "rule \(list) now \(action)"
            case 8:
                let level = pick(2) == 0 ? 7 : 0
                try run("ipsec dynamic set config ipsecdiagnostics \(level)\n")
                return "ipsecdiagnostics \(level)"
            default:
                if pick(2) == 0 {
                    addresses.dns = [IPAddress("192.0.2.\(pick(200) + 1)")!, IPAddress("2001:db8::\(pick(200) + 1)")!]
                    return "new DNS servers"
                }
                let members = "192.0.2.\(pick(200) + 1),2001:db8:\(pick(9) + 1)::/48"
                try run("ipsec static set addressgroup name=Admins addresses=\(members)\n")
                return "address group now \(members)"
            }
        }

        func ruleset() -> Ruleset { RulesetCompiler().compile(store, addresses: addresses) }
    }

    /// `nft list ruleset` with the table's set blocks sorted by name: nft lists sets in the order
    /// they were created, and a set a delta adds comes after those that stayed. Everything else —
    /// every set's type, flags and elements, every chain and rule in order — is compared as listed.
    static func setsSorted(_ listing: String) -> String {
        var head: [String] = [], sets: [String: [String]] = [:], rest: [String] = []
        var current: [String]?
        var name = ""
        for line in listing.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("\tset ") {
                current = [line]
                name = line
                continue
            }
            if var block = current {
                block.append(line)
                current = block
                if line == "\t}" {
                    sets[name] = block
                    current = nil
                }
                continue
            }
            if line.isEmpty, rest.isEmpty, !sets.isEmpty { continue }
            if sets.isEmpty && !line.hasPrefix("\tchain ") && rest.isEmpty {
                head.append(line)
            } else {
                rest.append(line)
            }
        }
        let blocks = sets.keys.sorted().map { sets[$0]!.joined(separator: "\n") }
        return (head + [blocks.joined(separator: "\n\n"), ""] + rest).joined(separator: "\n")
    }

    @Test(arguments: [UInt64(1), 2, 3, 4])
    func randomEditsListExactlyLikeAFreshApply(seed: UInt64) throws {
        var editor = try Editor(seed: seed)
        let ours = try Namespace("delta"), fresh = try Namespace("fresh")
        defer {
            ours.delete()
            fresh.delete()
        }
        let client = try ours.client(), freshClient = try fresh.client()
        var current = editor.ruleset()
        try client.apply(current)
        var deltas = 0
        for step in 1...40 {
            let what = try editor.edit()
            let next = editor.ruleset()
            if let delta = RulesetDelta.between(current, next) {
                try client.applyDelta(delta, from: current)
                deltas += 1
            } else {
                try client.apply(next)
            }
            current = next
            try freshClient.apply(next)
            let a = Self.setsSorted(try ours.nftList()), b = Self.setsSorted(try fresh.nftList())
            #expect(a == b, "seed \(seed), step \(step) (\(what)): the delta's table differs from a fresh apply")
            if a != b {
                try? a.write(toFile: "/tmp/delta-ours.nft", atomically: true, encoding: .utf8)
                try? b.write(toFile: "/tmp/delta-fresh.nft", atomically: true, encoding: .utf8)
                return
            }
        }
        // Most edits are deltas: a replacement is only for what a delta cannot say.
        #expect(deltas >= 30, "only \(deltas) of 40 edits went as deltas")
    }
}

/// Counters survive edits: through rampartd, packets counted by two filters — one element of a
/// grouped set, one rule of its own, each on IPv4 and IPv6 — across ten edits of other filters
/// (some in the same set, some rules inserted before theirs) add up to exactly what was sent.
@Suite(.serialized) struct CounterSurvivalTests {
    static let policy = """
        pushd ipsec static
        add filteraction name=Permit action=permit
        add filter filterlist=Udp srcaddr=198.51.100.10 dstaddr=me protocol=udp dstport=5001 mirrored=no
        add filter filterlist=Udp srcaddr=2001:db8:100::10 dstaddr=me protocol=udp dstport=5001 mirrored=no
        add filter filterlist=Udp srcaddr=198.51.100.20 dstaddr=me protocol=udp dstport=5009 mirrored=no
        add filter filterlist=Udp srcaddr=2001:db8:100::20 dstaddr=me protocol=udp dstport=5009 mirrored=no
        add filter filterlist=Ranged srcaddr=198.51.100.8-198.51.100.12 dstaddr=me protocol=udp dstport=5002 mirrored=no
        add filter filterlist=Ranged srcaddr=2001:db8:100::8-2001:db8:100::12 dstaddr=me protocol=udp dstport=5002 mirrored=no
        add policy name=P assign=yes
        add rule name=udp policy=P filterlist=Udp filteraction=Permit
        add rule name=ranged policy=P filterlist=Ranged filteraction=Permit
        popd

        """

    /// Ten edits of other filters: members added to and removed from the watched set, ungroupable
    /// rules inserted before the watched rule, another list, and drop logging switched on.
    static let edits = [
        "static add filter filterlist=Udp srcaddr=198.51.100.30 dstaddr=me protocol=udp dstport=5001 mirrored=no",
        "static add filter filterlist=Udp srcaddr=2001:db8:100::30 dstaddr=me protocol=udp dstport=5001 mirrored=no",
        "static add filter filterlist=Ranged srcaddr=198.51.100.1-198.51.100.5 dstaddr=me protocol=udp dstport=5002 mirrored=no",
        "static delete filter filterlist=Udp srcaddr=198.51.100.20 dstaddr=me protocol=udp dstport=5009 mirrored=no",
        "static add filter filterlist=Other srcaddr=203.0.113.0 srcmask=24 dstaddr=me protocol=tcp dstport=443",
        "static add rule name=other policy=P filterlist=Other filteraction=Permit",
        "static add filter filterlist=Udp srcaddr=198.51.100.40 srcmask=30 dstaddr=me protocol=udp dstport=5001 mirrored=no",
        "static delete filter filterlist=Udp srcaddr=198.51.100.30 dstaddr=me protocol=udp dstport=5001 mirrored=no",
        "static add filter filterlist=Ranged srcaddr=2001:db8:100::1-2001:db8:100::5 dstaddr=me protocol=udp dstport=5002 mirrored=no",
        "dynamic set config ipsecdiagnostics 7"
    ]

    /// Packets per filter id: `rampart counters --json` (rules and set elements).
    static func counted(_ daemon: DaemonHarness) throws -> [String: Int] {
        let out = try daemon.rampart(["counters", "--json"]).out
        var totals: [String: Int] = [:]
        for row in try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [[String: Any]] {
            totals[row["id"] as! String, default: 0] += row["packets"] as! Int
        }
        return totals
    }

    @Test func packetsThroughOneFilterAcrossTenEditsOfOthersAddUp() throws {
        try withLab { lab, cli in
            try cli.exec(Self.policy)
            let daemon = try DaemonHarness(cli: cli, ns: lab.server)
            defer { daemon.stop() }
            try daemon.start()
            let perRound = 7
            func send() throws {
                for (to, from) in [(Lab.serverInternal4, Lab.internal4), (Lab.serverInternal6, Lab.internal6)] {
                    for port in ["5001", "5002"] {
                        try lab.inside.run(
                            ["python3", RampartCLI.probe, "send", to, port, "--from", from, "--count", String(perRound)]
                        )
                    }
                }
            }
            try send()
            let first = try Self.counted(daemon)
            let watched = first.filter { $0.value > 0 }.keys.sorted()
            #expect(
                watched.count == 4 && first.filter { $0.value > 0 }.values.allSatisfy { $0 == perRound }, "\(first)")
            for (i, edit) in Self.edits.enumerated() {
                let words = edit.split(separator: " ").map(String.init)
                #expect(try daemon.rampart(words).status == 0, "edit \(i + 1): \(edit)")
                let last = try #require(try daemon.status()["lastApply"] as? [String: Any])
                // A delta, or nothing to send (a filter no rule uses yet): never a replacement.
                let result = last["result"] as? String ?? ""
                #expect(result.hasPrefix("delta:") || result == "unchanged", "edit \(i + 1) was \(last)")
                try send()
            }
            let total = try Self.counted(daemon)
            for id in watched {
                #expect(total[id] == perRound * (Self.edits.count + 1), "\(id): \(total[id] ?? 0) packets counted")
            }
            // The kernel's own listing (the independent oracle) holds the same totals for the set's elements.
            let listing = try lab.server.run(["nft", "list", "table", "inet", "rampart"]).out
            let expected = "counter packets \(perRound * (Self.edits.count + 1)) "
            #expect(listing.components(separatedBy: expected).count - 1 >= 4, "\(listing)")
        }
    }
}
