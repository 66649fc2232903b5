import Base
import Daemon
import FoundationEssentials
import Synchronization
import Testing

/// The daemon's event names are a contract with whoever parses `--log-format json` (Docs/CLI.md);
/// a library's warning reaches the log as a warning by its severity, not by its text.
@Suite("daemon: event names, levels from severities, next actions")
struct DaemonEventTests {
    final class Lines: Sendable {
        private let lock = Mutex<[String]>([])
        var all: [String] { lock.withLock { $0 } }
        func append(_ line: String) { lock.withLock { $0.append(line) } }
    }

    /// The rows of Docs/CLI.md's "Daemon events" table: (event, level).
    func documentedEvents() throws -> [(String, String)] {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Docs/CLI.md")
        let text = String(decoding: try Data(contentsOf: docs), as: UTF8.self)
        let heading = "### Daemon events (stable contract for --log-format json)"
        let start = try #require(text.firstRange(of: heading), "Docs/CLI.md has no section \(heading)")
        var rows: [(String, String)] = []
        for line in text[start.upperBound...].split(separator: "\n") {
            if line.hasPrefix("#") { break }
            let cells = line.split(separator: "|").map { String(String($0).trimmed) }
            guard cells.count >= 3, cells[0].hasPrefix("`") else { continue }
            rows.append((cells[0].filter { $0 != "`" }, cells[1]))
        }
        return rows
    }

    @Test("Docs/CLI.md lists every event name of DaemonEvent, once, with the level the daemon logs it at")
    func tableMatchesDocs() throws {
        let documented = try documentedEvents()
        #expect(documented.map(\.0).sorted() == DaemonEvent.allCases.map(\.rawValue).sorted())
        #expect(Set(documented.map(\.0)).count == documented.count, "a name documented twice")
        for (name, level) in documented {
            #expect(DaemonEvent(rawValue: name)?.level.description == level, "\(name): documented \(level)")
        }
    }

    @Test("the names users parse today keep their spelling")
    func namesAreStable() {
        #expect(DaemonEvent.renewalFailed.rawValue == "renewal-failed")
        #expect(DaemonEvent.storeUnreachable.rawValue == "store-unreachable")
        #expect(DaemonEvent.rolledBack.rawValue == "rolled-back")
        #expect(DaemonEvent.allCases.count == 29)
    }

    @Test("JSON lines: time, level, event, lineage, message in that order; the level is the event's unless given")
    func jsonLayout() {
        let lines = Lines()
        let log = EventLog(format: .json, write: { lines.append($0) })
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        log.log(.renewalFailed, "CA said no", lineage: "mail.example.com", now: now)
        log.log(.renewed, "version 2", lineage: "m", now: now)
        log.log(.step, "ordering", level: .debug, now: now)
        #expect(lines.all == [
            #"{"time":"2027-01-15 08:00:00 UTC","level":"error","event":"renewal-failed","lineage":"mail.example.com","message":"CA said no"}"#,
            #"{"time":"2027-01-15 08:00:00 UTC","level":"info","event":"renewed","lineage":"m","message":"version 2"}"#,
            #"{"time":"2027-01-15 08:00:00 UTC","level":"debug","event":"step","message":"ordering"}"#,
        ])
    }

    @Test("a library's events: a warning is logged as a warning whatever its text, steps only with --verbose")
    func eventsBySeverity() throws {
        let quiet = Lines(), verbose = Lines()
        let quietSink = EventLog(format: .json, write: { quiet.append($0) }).events(verbose: false)
        let verboseSink = EventLog(format: .json, write: { verbose.append($0) }).events(verbose: true)
        for sink in [quietSink, verboseSink] {
            sink("ordering mail.example.com")
            sink(.warning("the store cannot be reached; renewing here without the fleet's lock"))
            sink(.error("could not remove a challenge"))
            sink(Event("WARNING: text that only looks like a warning"))
        }
        #expect(quiet.all.count == 2, "\(quiet.all)")
        #expect(quiet.all[0].contains(#""level":"warning","event":"warning""#) && quiet.all[0].contains(#""message":"the store cannot be reached"#))
        #expect(quiet.all[1].contains(#""level":"error","event":"error""#), "\(quiet.all[1])")
        #expect(verbose.all.count == 4, "\(verbose.all)")
        #expect(verbose.all[0].contains(#""level":"info","event":"step","message":"ordering mail.example.com""#), "\(verbose.all[0])")
        #expect(verbose.all[3].contains(#""level":"info","event":"step""#), "a prefix is not a severity: \(verbose.all[3])")
    }

    @Test("a run's notes: a warning note is logged as the event warning, any other note as the event note")
    func notesBySeverity() throws {
        let lines = Lines()
        let log = EventLog(format: .json, write: { lines.append($0) })
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        log.note(.warning("mx.example.com expires 2027-01-20 08:00:00 UTC and is still held; renewing with the current key"), now: now)
        log.note("could not save ARI state: disk full", now: now)
        log.note(.error("DANE: the update was refused"), now: now)
        #expect(lines.all.count == 3, "\(lines.all)")
        #expect(lines.all[0].contains(#""level":"warning","event":"warning","message":"mx.example.com expires"#), "\(lines.all[0])")
        #expect(lines.all[1].contains(#""level":"info","event":"note","message":"could not save ARI state"#), "\(lines.all[1])")
        #expect(lines.all[2].contains(#""level":"error","event":"error""#), "\(lines.all[2])")
    }

    @Test("next actions: today's strings, read and written unchanged; an unknown one is kept as it was")
    func nextActions() throws {
        let known: [DaemonStatus.NextAction] = [.renew, .askARI, .retry, .dane, .daneWait]
        #expect(known.map(\.rawValue) == ["renew", "ask-ari", "retry", "dane", "dane-wait"])
        for action in known { #expect(DaemonStatus.NextAction(rawValue: action.rawValue) == action) }
        #expect(known.filter(\.isDANE) == [.dane, .daneWait])
        let json = #"{"name":"m","names":["m"],"nextAction":"%@","failures":0}"#
        for raw in ["dane-wait", "defrost-the-fridge"] {
            let data = Data(json.replacingOccurrences(of: "%@", with: raw).utf8)
            let lineage = try JSONDecoder().decode(DaemonStatus.Lineage.self, from: data)
            #expect(lineage.nextAction.rawValue == raw)
            let written = String(decoding: try JSONEncoder().encode(lineage), as: UTF8.self)
            #expect(written.contains(#""nextAction":"\#(raw)""#), "\(written)")
        }
        #expect(DaemonStatus.NextAction(rawValue: "defrost-the-fridge") == .other("defrost-the-fridge"))
        #expect(!DaemonStatus.NextAction.other("danger").isDANE, "no prefix decides: \"danger\" is not a DANE step")
    }
}
