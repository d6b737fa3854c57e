import Foundation
import RampartCompiler
import RampartPolicy
import RampartReport
import RampartTestKit
import Testing

/// `rampart counters`: one row per filter by rank, parts as columns (issue 31, item 8).
@Suite struct CounterListingTests {
    /// The web-server example's table as the kernel reader gives it back: fixed rules, DNS rules
    /// per family, a grouped set rule and its elements, a logged drop (its log rule has no counter).
    static var counters: [RuleCounter] {
        [
            RuleCounter(chain: "input", handle: 12, id: "loopback", packets: 40, bytes: 3_000),
            RuleCounter(chain: "input", handle: 17, id: "log-invalid", packets: 1, bytes: 60, logGroup: 1000),
            RuleCounter(chain: "input", handle: 19, id: "F13m", packets: 5, bytes: 500, family: 4),
            RuleCounter(chain: "input", handle: 20, id: "F13m", packets: 2, bytes: 250, family: 6),
            RuleCounter(chain: "input", handle: 23, id: "input_f1", packets: 9, bytes: 540, family: 4),
            RuleCounter(chain: "input", handle: 26, id: "F16", packets: 0, bytes: 0, logGroup: 1000, counted: false),
            RuleCounter(chain: "input", handle: 27, id: "F16", packets: 31, bytes: 1_860),
            RuleCounter(chain: "output", handle: 35, id: "F13", packets: 5, bytes: 350, family: 4),
            RuleCounter(chain: "output", handle: 36, id: "F13", packets: 2, bytes: 180, family: 6),
            RuleCounter(chain: "output", handle: 43, id: "F16", packets: 0, bytes: 0, logGroup: 1000, counted: false),
            RuleCounter(chain: "output", handle: 44, id: "F16", packets: 3, bytes: 180),
            RuleCounter(chain: "input", handle: 0, id: "F8", packets: 0, bytes: 0, set: "input_f1"),
            RuleCounter(chain: "input", handle: 0, id: "F7", packets: 9, bytes: 540, set: "input_f1")
        ]
    }

    static let ranks: [String: (rank: Int, origin: String)] = {
        let store = try! storeFrom(String(contentsOfFile: Fixtures.webServerExample, encoding: .utf8))
        return CounterListing.ranks(store)
    }()

    @Test func oneRowPerFilterByRankWithItsPartsAsColumns() {
        let text = CounterListing.text(CounterListing.rows(Self.counters, ranks: Self.ranks))
        #expect(
            text == """
                RANK  ID           PACKETS  BYTES  IPV4  IPV6  LOG  ORIGIN
                -     loopback     40       3000   -     -     -    -
                -     log-invalid  1        60     -     -     yes  -
                1     F13          7        530    5     2     -    local/Web Server/DNS out/DNS Out/#1
                3     F13m         7        750    5     2     -    local/Web Server/DNS out/DNS Out/#1
                5     F7           9        540    9     -     -    local/Web Server/Admin in/Admin In/#1
                6     F8           0        0      0     -     -    local/Web Server/Admin in/Admin In/#2
                17    F16          34       2040   -     -     yes  local/Web Server/Block all/All Traffic/#1

                """, "\(text)")
    }

    @Test func nonzeroFilterAndTopSelectRows() {
        func ids(_ options: CounterListing.Options) -> [String] {
            CounterListing.rows(Self.counters, ranks: Self.ranks, options: options).map(\.id)
        }
        #expect(ids(.init(nonzero: true)) == ["loopback", "log-invalid", "F13", "F13m", "F7", "F16"])
        #expect(ids(.init(filters: ["f16", "F8"])) == ["F8", "F16"], "ids in any case, still by rank")
        #expect(ids(.init(top: 3)) == ["loopback", "F16", "F7"], "the most packets first")
        #expect(ids(.init(nonzero: true, filters: ["F8"])) == [])
        // Through rampartd the options travel as words.
        let options = CounterListing.Options(nonzero: true, filters: ["F3", "F4"], top: 5)
        #expect(options.words == ["nonzero", "filter=f3,f4", "top=5"])
        #expect(CounterListing.Options(words: options.words) == options)
    }

    @Test func theJSONKeepsEveryPart() throws {
        let rows = CounterListing.rows(Self.counters, ranks: Self.ranks, options: .init(filters: ["F16"]))
        let json = CounterListing.json(rows).rendered()
        let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [[String: Any]]
        let parts = parsed[0]["parts"] as! [[String: Any]]
        #expect(
            parsed[0]["rank"] as? Int == 17 && parsed[0]["packets"] as? Int == 34
                && parsed[0]["logged"] as? Bool == true)
        #expect(parts.count == 4 && parts[0]["log"] as? Bool == true && parts[0]["packets"] is NSNull)
        #expect(parts.map { $0["chain"] as! String } == ["input", "input", "output", "output"])
    }
}
