import Testing
import RampartReport

/// The pages `show active` and `explain` are cut into for group members (issue 29, item 5).
struct ListingPageTests {
    @Test func wordsParseAndBadWordsAreRefusedByName() throws {
        #expect(try ListingPage.parse(["offset=500", "limit=20"]).get() == ListingPage(offset: 500, limit: 20))
        #expect(try ListingPage.parse([]).get() == ListingPage())
        for bad in ["offset=-1", "limit=x", "page=2", "offset"] {
            guard case .failure(let f) = ListingPage.parse([bad]) else {
                Issue.record("\(bad) accepted")
                continue
            }
            #expect(f.description.contains(bad))
        }
        #expect(ListingPage(offset: 3, limit: 4).words == ["offset=3", "limit=4"] && ListingPage().words.isEmpty)
    }

    @Test func aMembersPageIsNeverLongerThanFiveHundredRows() {
        #expect(ListingPage().capped(member: true) == ListingPage(offset: 0, limit: 500))
        #expect(ListingPage(limit: 10_000).capped(member: true).limit == 500)
        #expect(ListingPage(limit: 20).capped(member: true).limit == 20)
        #expect(ListingPage().capped(member: false).limit == nil)
    }

    @Test func rangesStayInsideTheListingAndTheNoteNamesTheNextPage() {
        #expect(ListingPage(offset: 0, limit: 500).range(total: 1200) == 0..<500)
        #expect(ListingPage(offset: 1000, limit: 500).range(total: 1200) == 1000..<1200)
        #expect(ListingPage(offset: 5000, limit: 500).range(total: 1200) == 1200..<1200)
        #expect(ListingPage().range(total: 7) == 0..<7)
        #expect(ListingPage.note(0..<7, total: 7, command: "rampart show active") == nil)
        #expect(
            ListingPage.note(0..<500, total: 1200, command: "rampart show active")?.contains(
                "ranks 1–500 of 1200; next: rampart show active --offset 500") == true)
        #expect(ListingPage.note(1000..<1200, total: 1200, command: "c")?.contains("next") == false)
        #expect(ListingPage.note(1200..<1200, total: 1200, command: "c")?.contains("no rows (offset 1200)") == true)
    }
}
