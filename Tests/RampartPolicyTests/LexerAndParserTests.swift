import Testing
@testable import RampartPolicy

@Suite struct LexerTests {
    func tokens(_ text: String) throws(Diagnostic) -> [String] {
        try Lexer.tokenize(SourceLine(file: "f", line: 1, text: text)).map {
            $0.kind == .equals ? "=" : ($0.quoted ? "\"\($0.text)\"" : $0.text)
        }
    }

    @Test func spacesAroundEqualsAreTheSame() throws {
        #expect(try tokens("name = x") == ["name", "=", "x"])
        #expect(try tokens("name=x") == ["name", "=", "x"])
        #expect(try tokens("protocol =any") == ["protocol", "=", "any"])
    }

    @Test func quotesGroupBlanksAndEquals() throws {
        #expect(try tokens(#"name="IIS Server = web" x"#) == ["name", "=", "\"IIS Server = web\"", "x"])
        #expect(
            try tokens(#"qmsec="AH[MD5]:204800k/300s ESP[DES,SHA1]:30000k/480s""#) == [
                "qmsec", "=", "\"AH[MD5]:204800k/300s ESP[DES,SHA1]:30000k/480s\""
            ])
        #expect(try tokens(#"a""b"#) == ["\"ab\""])
    }

    @Test func unterminatedQuoteNamesItsColumn() {
        #expect(
            throws: Diagnostic.error("unterminated double quote", at: SourceLocation(file: "f", line: 1, column: 6))
        ) {
            try Lexer.tokenize(SourceLine(file: "f", line: 1, text: "name=\"abc"))
        }
    }
}

@Suite struct CommandParserTests {
    func parse(_ text: String, context: NetshContext = .ipsec) throws(Diagnostic) -> ParsedCommand {
        let line = SourceLine(file: "f", line: 1, text: text)
        return try CommandParser.parse(try Lexer.tokenize(line), context: context, line: line)
    }

    @Test func resolvesContextsAndAbbreviations() throws {
        #expect(try parse("static add filter filterlist=a srcaddr=any dstaddr=me").spec.name == "static add filter")
        #expect(try parse("netsh ipsec static del policy x", context: .static).spec.name == "static delete policy")
        #expect(try parse("STATIC ADD FILTERACTION name=x").spec.name == "static add filteraction")
        #expect(try parse("dynamic set config bootmode block", context: .static).spec.name == "dynamic set config")
        #expect(try parse("add rule name=r", context: .static).spec.name == "static add rule")
        #expect(try parse("dump").spec.name == "ipsec dump")
    }

    @Test func tagPrefixesResolve() throws {
        let c = try parse(#"static add filteraction name=x qmsec="ESP[3DES,SHA1]" desc="d" act=negotiate"#)
        #expect(c.first("qmsecmethods")?.value == "ESP[3DES,SHA1]")
        #expect(c.first("description")?.value == "d")
        #expect(c.first("action")?.value == "negotiate")
        let f = try parse("static add filter filterlist=l srca=any dsta=me mir=no proto=tcp")
        #expect(f.first("mirrored")?.value == "no")
        #expect(f.first("protocol")?.value == "tcp")
    }

    @Test func ambiguousTagNamesCandidates() {
        #expect(
            throws: Diagnostic.error(
                "'filter' is ambiguous: it could be filteraction, filterlist",
                at: SourceLocation(file: "f", line: 1, column: 46))
        ) {
            try parse("static add rule name=r policy=p filterlist=l filter=a")
        }
    }

    @Test func untaggedValuesFillDocumentedOrder() throws {
        let c = try parse("static add filter Web any me TCP")
        #expect(c.first("filterlist")?.value == "Web")
        #expect(c.first("srcaddr")?.value == "any")
        #expect(c.first("dstaddr")?.value == "me")
        #expect(c.first("description")?.value == "TCP")
        let d = try parse("dynamic set config ipsecdiagnostics 7")
        #expect(d.first("property")?.value == "ipsecdiagnostics")
        #expect(d.first("value")?.value == "7")
        let r = try parse("static delete rule all MyPolicy")
        #expect(r.first("name")?.value == "all")
        #expect(r.first("policy")?.value == "MyPolicy")
    }

    @Test func trailingFreeTextBecomesDescription() throws {
        let c = try parse(
            "static add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=80 Allow web traffic")
        #expect(c.first("description")?.value == "Allow web traffic")
        #expect(c.warnings.count == 1)
    }

    @Test func errorsNameTheirColumn() {
        #expect(
            throws: Diagnostic.error("parameter 'name' given twice", at: SourceLocation(file: "f", line: 1, column: 26))
        ) {
            try parse("static add policy name=a name=b")
        }
        #expect(
            throws: Diagnostic.error(
                "'static add policy' has no parameter 'colour'; parameters: name, description, mmpfs, qmpermm, mmlifetime, activatedefaultrule, pollinginterval, assign, mmsecmethods",
                at: SourceLocation(file: "f", line: 1, column: 26))
        ) {
            try parse("static add policy name=a colour=red")
        }
        #expect(
            throws: Diagnostic.error("missing value for 'name'", at: SourceLocation(file: "f", line: 1, column: 24))
        ) {
            try parse("static add policy name=")
        }
        #expect(
            throws: Diagnostic.error(
                "'=' without a parameter name before it", at: SourceLocation(file: "f", line: 1, column: 19))
        ) {
            try parse("static add policy =x")
        }
        #expect(
            throws: Diagnostic.error(
                "'firewall' is not a netsh ipsec command (rampart speaks only the ipsec context)",
                at: SourceLocation(file: "f", line: 1, column: 7))
        ) {
            try parse("netsh firewall set opmode disable", context: .root)
        }
        #expect(
            throws: Diagnostic.error(
                "'s' is ambiguous: it could be set, show", at: SourceLocation(file: "f", line: 1, column: 8))
        ) {
            try parse("static s store")
        }
        #expect(
            throws: Diagnostic.error(
                "incomplete command: expected what to add (addressgroup, filter, filteraction, filterlist, policy, rule, schedule)",
                at: SourceLocation(file: "f", line: 1, column: 11))
        ) {
            try parse("static add")
        }
    }

    @Test func everyCommandOfTheTableParses() throws {
        for spec in CommandSpec.all {
            let text = [spec.context == .ipsec ? nil : spec.context.rawValue, spec.verb, spec.noun].compactMap { $0 }
                .joined(separator: " ")
            #expect(try parse(text).spec.name == spec.name)
        }
    }
}
