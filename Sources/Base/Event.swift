/// How much an event matters: the daemon logs it at this level, the CLI prints a warning as
/// `warning: …`. Ordered: `.debug < .info < .notice < .warning < .error`.
public enum Severity: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    case debug, info, notice, warning, error

    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `debug`, `info`, `notice`, `warning`, `error`: the daemon's JSON `level` field.
    public var description: String {
        switch self {
        case .debug: "debug"
        case .info: "info"
        case .notice: "notice"
        case .warning: "warning"
        case .error: "error"
        }
    }
}

/// One line of progress from a library to whoever runs it (the CLI prints it, the daemon logs it),
/// with its severity as a value: a warning is `.warning("…")`, never a text prefix. A string
/// literal (`progress("ordering for \(name)")`) is an `.info` event.
public struct Event: Sendable, Equatable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public var severity: Severity
    public var message: String

    public init(_ message: String, severity: Severity = .info) {
        self.message = message
        self.severity = severity
    }

    public init(stringLiteral value: String) { self.init(value) }
    public init(stringInterpolation: DefaultStringInterpolation) { self.init(String(stringInterpolation: stringInterpolation)) }

    public static func debug(_ message: String) -> Event { Event(message, severity: .debug) }
    public static func info(_ message: String) -> Event { Event(message, severity: .info) }
    public static func notice(_ message: String) -> Event { Event(message, severity: .notice) }
    public static func warning(_ message: String) -> Event { Event(message, severity: .warning) }
    public static func error(_ message: String) -> Event { Event(message, severity: .error) }

    /// The message alone; the severity is not part of the text.
    public var description: String { message }
}

/// Where a library sends its events: the CLI's output, the daemon's log, a test's list.
public typealias EventSink = @Sendable (Event) -> Void
