import Foundation
import Testing
import RampartNamespaceKit
import RampartTestKit

/// rampartd as the shipped unit runs it (issue 29, item 21): an ordinary user whose group is the
/// control group, with CAP_NET_ADMIN alone. The store root writes in its directory is handed over.
@Suite(.serialized) struct UnprivilegedDaemonTests {
    struct Accounts {
        let group: String, daemon: String, member: String
        var uid: uid_t { getpwnam(daemon).pointee.pw_uid }
        var gid: gid_t { getgrnam(group).pointee.gr_gid }
    }

    func withAccounts(_ body: (Accounts) throws -> Void) throws {
        let tag = String(UInt32.random(in: 0...0xffff), radix: 16)
        let a = Accounts(group: "ru-g\(tag)", daemon: "ru-d\(tag)", member: "ru-m\(tag)")
        try sh(["groupadd", "--system", a.group])
        try sh(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "-g", a.group, a.daemon])
        try sh(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "-G", a.group, a.member])
        defer {
            _ = try? sh(["userdel", a.daemon], allowFailure: true)
            _ = try? sh(["userdel", a.member], allowFailure: true)
            _ = try? sh(["groupdel", a.group], allowFailure: true)
        }
        try body(a)
    }

    static func owner(_ path: String) -> (uid: uid_t, mode: mode_t)? {
        var info = stat()
        return stat(path, &info) == 0 ? (info.st_uid, info.st_mode & 0o777) : nil
    }

    static func status(_ pid: Int32, _ field: String) -> String {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").first { $0.hasPrefix(field + ":") }.map {
            $0.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces)
        } ?? ""
    }

    @Test func rampartdRunsAsAnOrdinaryUserWithNetAdminAloneAndReadsWhatRootWrites() throws {
        try withAccounts { a in
            let cli = try RampartCLI()
            defer { cli.cleanup() }
            // The state directory is the daemon user's, as StateDirectory= makes it.
            #expect(chown(cli.directory.path, a.uid, a.gid) == 0 && chmod(cli.directory.path, 0o755) == 0)
            try cli.exec(DaemonTests.policy)
            let store = try #require(Self.owner(cli.store))
            #expect(
                store.uid == a.uid && store.mode == 0o600,
                "root's offline exec hands the store to the directory's owner, readable by it alone: \(store)")
            #expect(Self.owner(cli.store + ".boot")?.uid == a.uid && Self.owner(cli.store + ".lock")?.uid == a.uid)
            let ns = try Namespace("u")
            defer { ns.delete() }
            let daemon = try DaemonHarness(cli: cli, ns: ns, config: "control_group = \(a.group)\n")
            defer { daemon.stop() }
            daemon.unprivileged = (a.uid, a.gid)
            chmod(daemon.notify.path, 0o666)
            try daemon.start()
            let pid = try #require(daemon.process?.processIdentifier)
            #expect(
                Self.status(pid, "Uid").split(separator: "\t").allSatisfy { $0 == "\(a.uid)" },
                "\(Self.status(pid, "Uid"))")
            #expect(
                Self.status(pid, "CapEff") == "0000000000001000", "CAP_NET_ADMIN alone: \(Self.status(pid, "CapEff"))")
            #expect(
                try ns.run(["nft", "list", "table", "inet", "rampart"]).out.contains("tcp dport 80"), "\(daemon.log())")
            #expect(Self.owner(daemon.socket)?.uid == a.uid)
            // A member of the control group queries; root changes the policy online (rampartd
            // writes the store) and offline (root writes it, rampartd reads it on SIGHUP).
            #expect(try daemon.rampart(["status"], allowFailure: true, user: a.member).status == 0)
            try daemon.rampart([
                "static", "add", "filter", "filterlist=Web", "srcaddr=any", "dstaddr=me", "protocol=tcp", "dstport=8082"
            ])
            #expect(
                daemon.eventually(10) {
                    (try? ns.run(["nft", "list", "table", "inet", "rampart"]))?.out.contains("8082") == true
                })
            #expect(Self.owner(cli.store)?.uid == a.uid && Self.owner(cli.store)?.mode == 0o600)
            try sh([
                RampartCLI.binary, "static", "add", "filter", "filterlist=Web", "srcaddr=any", "dstaddr=me",
                "protocol=tcp", "dstport=8081",
                "--store", cli.store
            ])
            #expect(Self.owner(cli.store)?.uid == a.uid, "root's offline change is handed over too")
            daemon.signal(SIGHUP)
            #expect(
                daemon.eventually(10) {
                    (try? ns.run(["nft", "list", "table", "inet", "rampart"]))?.out.contains("8081") == true
                }, "\(daemon.log())")
            #expect(!daemon.log().contains("cannot read store"), "\(daemon.log())")
        }
    }

    /// charon's VICI socket is root's (mode 0770): without the documented ACL the negotiate rules
    /// are a problem that names the way in; with it, rampartd loads them.
    @Test func charonsSocketIsReachedThroughTheDocumentedACL() throws {
        try withAccounts { a in
            let cli = try RampartCLI()
            defer { cli.cleanup() }
            #expect(chown(cli.directory.path, a.uid, a.gid) == 0 && chmod(cli.directory.path, 0o755) == 0)
            let ns = try Namespace("u")
            defer { ns.delete() }
            try ns.run(["ip", "link", "set", "lo", "up"])
            let charon = try Charon(ns: ns, directory: cli.directory)
            defer { charon.stop() }
            try cli.exec(IPsecTests.policy(peer: "192.0.2.9", psk: "a secret"))
            let daemon = try DaemonHarness(
                cli: cli, ns: ns, config: "control_group = \(a.group)\n" + IPsecTests.config(charon))
            defer { daemon.stop() }
            daemon.unprivileged = (a.uid, a.gid)
            chmod(daemon.notify.path, 0o666)
            try daemon.start()
            let refused = try daemon.rampart(["status"], allowFailure: true).out
            #expect(refused.contains("setfacl -m u:\(a.daemon):rw \(charon.socket)"), "\(refused)")
            #expect(try charon.connections().isEmpty)
            try sh(["setfacl", "-m", "u:\(a.daemon):rw", charon.socket])
            daemon.signal(SIGHUP)
            #expect(daemon.eventually(10) { ((try? charon.connections()) ?? []).isEmpty == false }, "\(daemon.log())")
        }
    }
}
