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
    public var origins: [SourceLocation]
    /// Where the line ends (for "missing value at end of line").
    public var end: SourceLocation

    public init(file: String, line: Int, text: String, firstColumn: Int = 1) {
        self.file = file
        self.characters = Array(text)
        self.origins = characters.indices.map { SourceLocation(file: file, line: line, column: firstColumn + $0) }
        self.end = SourceLocation(file: file, line: line, column: firstColumn + characters.count)
    }

    public init(file: String, characters: [Character], origins: [SourceLocation], end: SourceLocation) {
        self.file = file
        self.characters = characters
        self.origins = origins
        self.end = end
    }

    public var text: String { String(characters) }

    public func location(at index: Int) -> SourceLocation {
        index < origins.count ? origins[index] : end
    }
}
