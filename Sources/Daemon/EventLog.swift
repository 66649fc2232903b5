import Base
import FoundationEssentials
import Glibc

/// The daemon's log: one line per event on stdout, as text (`2026-11-28 01:02:03 UTC renewed
/// mail.example.com: …`) or JSON objects (`--log-format json`). Text from certificates and
/// peers is escaped, so one event stays one line.
public struct EventLog: Sendable {
    public enum Format: String, Sendable, CaseIterable { case text, json }

    public var format: Format
    public var write: @Sendable (String) -> Void

    public init(format: Format, write: @escaping @Sendable (String) -> Void = EventLog.standardOutput) {
        self.format = format
        self.write = write
    }

    public static let standardOutput: @Sendable (String) -> Void = { line in
        var bytes = Array((line + "\n").utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(1, buffer.baseAddress! + offset, buffer.count - offset)
                if written > 0 { offset += written } else if written < 0 && errno == EINTR { continue } else { break }
            }
        }
    }

    /// One event: its name from the table of `DaemonEvent` (the contract of `--log-format json`),
    /// logged at `level`, by default the event's usual level.
    public func log(_ event: DaemonEvent, _ message: String, lineage: String? = nil, level: Severity? = nil, now: Date = Date()) {
        let (event, level) = (event.rawValue, (level ?? event.level).description)
        switch format {
        case .text:
            let subject = lineage.map { " \($0.escapedForDisplay):" } ?? ""
            write("\(now.utcText) \(event)\(subject) \(message.escapedForDisplay)")
        case .json:
            var fields = ["\"time\":" + jsonString(now.utcText), "\"level\":" + jsonString(level), "\"event\":" + jsonString(event)]
            if let lineage { fields.append("\"lineage\":" + jsonString(lineage)) }
            fields.append("\"message\":" + jsonString(message))
            write("{" + fields.joined(separator: ",") + "}")
        }
    }

    /// A note of a run's report: a warning or an error as the event `warning` or `error` at its
    /// severity, anything else as the event `note`.
    public func note(_ note: Event, now: Date = Date()) {
        if note.severity >= .warning {
            log(note.severity == .error ? .error : .warning, note.message, level: note.severity, now: now)
        } else {
            log(.note, note.message, now: now)
        }
    }

    /// A library's events in the daemon's log: a warning or an error always (as the event
    /// `warning` or `error`, at its severity), everything else as `step` with `--verbose`.
    public func events(verbose: Bool) -> EventSink {
        let log = self
        return { event in
            if event.severity >= .warning {
                log.log(event.severity == .error ? .error : .warning, event.message, level: event.severity)
            } else if verbose {
                log.log(.step, event.message, level: event.severity)
            }
        }
    }
}
