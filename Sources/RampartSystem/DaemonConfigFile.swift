import RampartConfig

extension DaemonConfig {
    /// The configuration file's text; nil when there is none (the defaults apply).
    public static func readFile(_ path: String) throws -> String? {
        guard SourceFile.exists(path) else { return nil }
        switch SourceFile.read(path, limit: 1 << 20) {
        case .success(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .failure(let failure): throw failure
        }
    }
}
