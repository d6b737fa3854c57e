/// A place in an input: file (or `<command line>`), physical line and column, both 1-based.
public struct SourceLocation: Hashable, Sendable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// An error, warning or note with where it came from. Rendered as `FILE:LINE:COLUMN: error: MESSAGE`,
/// the format editors and CI log scanners understand.
public struct Diagnostic: Error, Hashable, Sendable, Codable, CustomStringConvertible {
    public enum Severity: String, Sendable, Codable {
        case error, warning, note
    }

    public var severity: Severity
    public var location: SourceLocation?
    public var message: String

    public init(_ severity: Severity, _ message: String, at location: SourceLocation?) {
        self.severity = severity
        self.location = location
        self.message = message
    }

    public static func error(_ message: String, at location: SourceLocation?) -> Diagnostic {
        Diagnostic(.error, message, at: location)
    }

    public static func warning(_ message: String, at location: SourceLocation?) -> Diagnostic {
        Diagnostic(.warning, message, at: location)
    }

    public var description: String {
        if let location { return "\(location): \(severity.rawValue): \(message)" }
        return "rampart: \(severity.rawValue): \(message)"
    }
}

/// Text of one logical line with the physical origin of every character, so that errors inside
/// `^`-continued batch lines or expanded `%VAR%`s still point at the right physical place.
public struct SourceLine: Sendable, Hashable {
    public var file: String
    public var characters: [Character]
    /// The physical place of every character. A line read straight from a file maps each
    /// character to the next column, so that mapping is computed when asked for, not stored:
    /// a large script then costs one allocation per line, not one per character.
    public var origins: [SourceLocation] {
        get {
            storedOrigins
                ?? characters.indices.map { SourceLocation(file: file, line: end.line, column: firstColumn + $0) }
        }
        set { storedOrigins = newValue }
    }
    /// Where the line ends (for "missing value at end of line").
    public var end: SourceLocation
    private var storedOrigins: [SourceLocation]?
    private var firstColumn: Int

    public init(file: String, line: Int, text: String, firstColumn: Int = 1) {
        self.file = file
        self.characters = Array(text)
        self.firstColumn = firstColumn
        self.end = SourceLocation(file: file, line: line, column: firstColumn + characters.count)
    }

    public init(file: String, characters: [Character], origins: [SourceLocation], end: SourceLocation) {
        self.file = file
        self.characters = characters
        self.storedOrigins = origins
        self.firstColumn = 1
        self.end = end
    }

    public var text: String { String(characters) }

    public func location(at index: Int) -> SourceLocation {
        if let storedOrigins { return index < storedOrigins.count ? storedOrigins[index] : end }
        return index < characters.count ? SourceLocation(file: file, line: end.line, column: firstColumn + index) : end
    }

    public static func == (a: SourceLine, b: SourceLine) -> Bool {
        a.file == b.file && a.characters == b.characters && a.end == b.end && a.origins == b.origins
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(file)
        hasher.combine(characters)
        hasher.combine(end)
    }
}
