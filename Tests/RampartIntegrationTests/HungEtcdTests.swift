import Foundation
import Testing
import RampartNamespaceKit
import RampartTestKit

/// etcd that accepts connections and never answers (a stopped process: issue 29, item 18): the
/// cached domain policy is enforced and READY comes without waiting for it; the ready line names
/// the cached policy. (The 1.4 s READY of the report was not reproduced here, hung or not; this
/// guards that the fleet never gates READY.)
@Suite(.serialized) struct HungEtcdTests {
    static let blockSSH = Fixtures.fleetBlockSSH

    @Test(arguments: ["http", "https"])
    func aHungEtcdNeverHoldsReadyAndTheCachedPolicyIsNamed(scheme: String) throws {
        let cli = try RampartCLI()
        defer { cli.cleanup() }
        let ns = try Namespace("h")
        defer { ns.delete() }
        try ns.run(["ip", "link", "set", "lo", "up"])
        // Accepts, reads nothing, answers nothing, for longer than the test.
        let listener = try ns.spawn([
            "python3", "-c",
            """
            import socket, time
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 2379)); s.listen(16)
            held = []
            while True:
                c, _ = s.accept(); held.append(c)
            """
        ])
        defer {
            kill(listener.processIdentifier, SIGKILL)
            listener.waitUntilExit()
        }
        let cache = cli.directory.appendingPathComponent("domain-cache.json").path
        let document: [String: Any] = [
            "format": "rampart-domain-cache", "version": 1, "group": "web", "revision": 7,
            "arrived": Date().timeIntervalSince1970, "script": Self.blockSSH
        ]
        try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: cache))
        chmod(cache, 0o600)
        var config = "etcd_endpoints = \(scheme)://127.0.0.1:2379\netcd_group = web\ndomain_cache = \(cache)\n"
        if scheme == "https" {
            let ca = cli.directory.appendingPathComponent("ca.pem").path
            try sh([
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
                "/CN=test CA",
                "-keyout", cli.directory.appendingPathComponent("ca.key").path, "-out", ca, "-days", "2"
            ])
            config += "etcd_ca = \(ca)\n"
        }
        let daemon = try DaemonHarness(cli: cli, ns: ns, config: config)
        defer { daemon.stop() }
        let messages = try daemon.start()
        let ready = messages.joined(separator: "\n")
        #expect(
            ready.contains("the domain policy is enforced (policy 'Fleet' of group 'web', etcd revision 7"), "\(ready)")
        #expect(!ready.contains("traffic is not filtered"), "\(ready)")
        #expect(try ns.run(["nft", "list", "table", "inet", "rampart"]).out.contains("tcp dport 22"), "\(daemon.log())")
        let status = try daemon.rampart(["status"]).out
        #expect(!status.contains("watching"), "etcd never answered: \(status)")
    }
}
