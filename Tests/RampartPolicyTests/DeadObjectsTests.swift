import Testing

@testable import RampartPolicy

/// A transaction ends with a warning for what it made or changed that filters nothing.
@Suite struct DeadObjectsTests {
    static let web = """
        add filteraction name=Permit action=permit
        add filter filterlist="HTTP Server" srcaddr=any dstaddr=me protocol=tcp dstport=80
        add policy name=P assign=yes
        add rule name=web policy=P filterlist="HTTP Server" filteraction=Permit

        """

    static func warnings(_ lines: String, on store: Store = Store()) throws -> (Store, [String]) {
        let after = try runStatic(lines, store: store).store
        return (after, DeadObjects.warnings(before: store, after: after).map(\.description))
    }

    @Test func aTypoedFilterListIsNamedWithTheListInUse() throws {
        let (store, none) = try Self.warnings(Self.web)
        #expect(none == [], "every object is used")
        let (_, typo) = try Self.warnings(
            "add filter filterlist=\"HTTP Servr\" srcaddr=any dstaddr=me protocol=tcp dstport=443\n", on: store)
        #expect(
            typo == [
                "rampart: warning: filter list 'HTTP Servr' is used by no rule: its filters filter nothing; did you mean 'HTTP Server'? (add a rule with filterlist=\"HTTP Servr\", or delete it)"
            ])
    }

    @Test func anUnusedActionAndAnUnassignedPolicyAreSaidOnceWhenMade() throws {
        let (store, made) = try Self.warnings(
            Self.web + "add filteraction name=Permitt action=permit\nadd policy name=Spare\n"
                + "add rule name=r policy=Spare filterlist=\"HTTP Server\" filteraction=Permit\n")
        #expect(
            made == [
                "rampart: warning: filter action 'Permitt' is used by no rule; did you mean 'Permit'? (add a rule with filteraction=\"Permitt\", or delete it)",
                "rampart: warning: policy 'Spare' is not assigned: its rules filter nothing (assign it with 'set policy name=\"Spare\" assign=yes')"
            ])
        let (_, untouched) = try Self.warnings("add filteraction name=Other action=block\n", on: store)
        #expect(
            untouched == [
                "rampart: warning: filter action 'Other' is used by no rule (add a rule with filteraction=\"Other\", or delete it)"
            ], "what the change did not touch is not repeated")
    }

    @Test func aListLeftUnusedByADeletedRuleIsSaid() throws {
        let (store, _) = try Self.warnings(Self.web)
        let (_, left) = try Self.warnings("delete rule name=web policy=P\n", on: store)
        #expect(left.count == 2 && left.allSatisfy { $0.contains("is used by no rule") }, "\(left)")
        let (_, persistent) = try Self.warnings("set store location=persistent\nadd filterlist name=Spare\n")
        #expect(persistent.first?.contains("filter list 'Spare' (persistent store) is used by no rule") == true)
    }
}
