import Base
import CertStore
import FoundationEssentials

/// A small JSON map kept beside the lineages (`<config-dir>/.acme-*.json`): read once,
/// written back atomically only if an entry changed. A missing or unreadable file is an
/// empty map: it holds only what can be asked again. So is a file with a value out of range
/// (`check`): `note` says so, and the file is rewritten at the next save, so it is said once.
struct StateFile<Entry: Codable & Equatable & Sendable>: Sendable {
    let path: String
    private(set) var entries: [String: Entry]
    private var changed = false
    /// Why the file's entries were dropped (a value out of range), for the run's notes.
    private(set) var note: String?

    init(path: String, check: (Entry, inout RangeCheck) -> Void = { _, _ in }) {
        self.path = path
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        // A cache of what can be asked again: unreadable (a link, a FIFO) means "ask again"; the
        // next save replaces a link with the file, never writing through it.
        if FS.exists(path), let text = try? FS.readNoFollow(path),
           let decoded = try? decoder.decode([String: Entry].self, from: Data(text.utf8)) {
            entries = decoded
        } else {
            entries = [:]
        }
        var range = RangeCheck()
        for key in entries.keys.sorted() {
            check(entries[key]!, &range)
            if let problem = range.problem {
                note = "\(path) holds a value out of range (\(key.excerpt()): \(problem)); it is started afresh"
                (entries, changed) = ([:], true)
                break
            }
        }
    }

    subscript(key: String) -> Entry? {
        get { entries[key] }
        set {
            guard entries[key] != newValue else { return }
            entries[key] = newValue
            changed = true
        }
    }

    func save() throws {
        guard changed else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .secondsSince1970
        try FS.writeAtomically(path, String(decoding: try encoder.encode(entries), as: UTF8.self) + "\n", mode: 0o644)
    }
}
