import RampartSystem
import RampartVici

extension XfrmStats {
    /// nil when the kernel has no xfrm statistics (CONFIG_XFRM_STATISTICS off).
    public static func read(path: String = "/proc/net/xfrm_stat") -> XfrmStats? {
        guard case .success(let bytes) = SourceFile.read(path, limit: 64 * 1024), !bytes.isEmpty else { return nil }
        return parse(String(decoding: bytes, as: UTF8.self))
    }
}

extension IPsecView {
    /// Asks charon at `socket` (list-sas and stats, each bounded by `timeoutMilliseconds`) and reads
    /// this namespace's xfrm counters.
    public static func gather(
        socket: String, daemon: [Count]? = nil, lastFailure: String? = nil, timeoutMilliseconds: Int32 = 2_000
    ) -> IPsecView {
        var listing: SAListing?
        var error: String?
        var charon: [Count] = []
        var since: String?
        do {
            let client = try ViciClient(path: socket, timeoutMilliseconds: timeoutMilliseconds)
            listing = SAListing(items: try client.call("list-sas", streaming: "list-sa").items)
            let stats = try client.call("stats").response
            since = stats.section("uptime")?.string("since")
            if let ike = stats.section("ikesas") {
                if let t = ike.string("total").flatMap({ Int($0) }) { charon.append(Count(name: "IKE_SAs", value: t)) }
                if let h = ike.string("half-open").flatMap({ Int($0) }) {
                    charon.append(Count(name: "IKE_SAs half-open", value: h))
                }
            }
        } catch let e {
            error = e.description
        }
        return IPsecView(
            listing: listing, charonError: error, charon: charon, daemon: daemon, lastFailure: lastFailure,
            xfrm: XfrmStats.read(),
            charonSince: since)
    }
}
