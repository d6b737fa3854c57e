/// A page of a long listing (`show active`, the filters `explain` considered). A group member gets
/// at most `memberRows` rows a reply (issue 29, item 5: one member's listing of 100,000 filters held
/// hundreds of megabytes); root gets all unless it asks for a page.
public struct ListingPage: Sendable, Equatable {
    public static let memberRows = 500

    /// Rows skipped (the first row shown has rank `offset + 1`).
    public var offset: Int
    /// Rows at most; nil: all.
    public var limit: Int?

    public init(offset: Int = 0, limit: Int? = nil) {
        self.offset = offset
        self.limit = limit
    }

    /// `offset=N` and `limit=N` words, as the control request carries them.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public static func parse(_ words: [String]) -> Result<ListingPage, Failure> {
        var page = ListingPage()
        for word in words {
            let parts = word.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let n = Int(parts[1]), n >= 0 else {
                return .failure(
                    Failure(description: "'\(word)' is not offset=N or limit=N (N a whole number, 0 or more)"))
            }
            switch parts[0] {
            case "offset": page.offset = n
            case "limit": page.limit = n
            default: return .failure(Failure(description: "'\(word)': only offset=N and limit=N page this listing"))
            }
        }
        return .success(page)
    }

    public var words: [String] { (offset > 0 ? ["offset=\(offset)"] : []) + (limit.map { ["limit=\($0)"] } ?? []) }

    /// A member's page is never longer than `memberRows`.
    public func capped(member: Bool) -> ListingPage {
        guard member else { return self }
        return ListingPage(offset: offset, limit: min(limit ?? Self.memberRows, Self.memberRows))
    }

    public func range(total: Int) -> Range<Int> {
        let start = min(offset, total)
        return start..<min(total, start + (limit ?? total))
    }

    /// Said when the page is not the whole listing: which ranks, of how many, and the next page.
    public static func note(_ range: Range<Int>, total: Int, command: String) -> String? {
        guard range.count < total else { return nil }
        let shown =
            range.isEmpty ? "no rows (offset \(range.lowerBound))" : "ranks \(range.lowerBound + 1)–\(range.upperBound)"
        let next = range.upperBound < total ? "; next: \(command) --offset \(range.upperBound)" : ""
        return "rampart: showing \(shown) of \(total)\(next) (a group member gets at most \(memberRows) rows a reply)"
    }
}
