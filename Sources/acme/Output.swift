import Base
import FoundationEssentials
import Glibc

/// Where the CLI's words go: progress and errors on stderr, results on stdout.
struct Output: Sendable {
    var quiet = false
    var verbose = false

    /// One line a step, unless --quiet.
    func step(_ line: String) {
        if !quiet { Output.writeErr(line) }
    }

    /// A library's event, one line a step unless --quiet: a warning reads `warning: …`, an error
    /// the run goes on after `error: …`; the severity is rendered here, not carried in the text.
    func step(_ event: Event) {
        step(Output.text(of: event))
    }

    /// Requests and statuses, only with --verbose.
    func detail(_ line: String) {
        if verbose { Output.writeErr("  " + line) }
    }

    func detail(_ event: Event) {
        detail(Output.text(of: event))
    }

    /// How the CLI prints an event: its message, after `warning: ` or `error: ` for those severities.
    static func text(of event: Event) -> String {
        let message = SettingFlags.naming(event.message)
        return event.severity >= .warning ? "\(event.severity): \(message)" : message
    }

    /// The CLI's sink for a library's events.
    var events: EventSink {
        let output = self
        return { output.step($0) }
    }

    /// `text` is built only when it is printed (`--quiet` over 1,000 lineages builds no report line).
    func result(_ text: @autoclosure () -> String) { if !quiet { Output.print(text()) } }

    /// Results on stdout, every line with control characters escaped (text from certificates,
    /// peers and files cannot forge output), flushed: under docker logs or systemd it is a pipe.
    static func print(_ text: String) {
        Swift.print(text.split(separator: "\n", omittingEmptySubsequences: false).map(\.escapedForDisplay).joined(separator: "\n"))
        fflush(nil)
    }

    /// The waiting line for a run that finds the config directory locked by another one.
    func waiting(_ configDirectory: String) -> @Sendable () -> Void {
        let output = self
        return { output.step("another acme or certbot run is using \(configDirectory); waiting for it to finish") }
    }

    /// Pretty, sorted JSON with ISO 8601 dates on stdout (`--json`).
    static func printJSON(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// One line on stderr, control characters escaped.
    static func writeErr(_ line: String) {
        var text = line.escapedForDisplay + "\n"
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
    }
}
