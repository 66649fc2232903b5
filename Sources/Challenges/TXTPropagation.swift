import Base
import DNS

/// Waits until every DNS server asked serves every TXT record: asks at once, then every second,
/// until `wait` has passed. Shared by the DNS-01 hook (its `--dns-resolver`) and RFC 2136 updates
/// (each authoritative server of the zone).
struct TXTPropagation {
    /// Each server with the records it must serve (those of its zone).
    var checks: [(server: TXTLookup, records: [(name: String, value: String)])]
    var wait: Duration
    /// What the user can do when a record never shows, after the reason.
    var advice: String

    /// Returns once all are visible; throws `notPublished` naming each server still lacking a record.
    func run() async throws {
        let deadline = ContinuousClock.now + wait
        // Per server: the records it does not serve yet, and its last lookup failure (so that
        // "not visible" says why when it was no answer at all).
        var missing = checks.map { (lookup: $0.server, records: $0.records, failure: String?.none) }
        while true {
            // Every (server, record) lookup at once, each on its own thread: one round costs one
            // answer's time, not one per name and server.
            let answers = await withTaskGroup(of: (Int, Int, Result<[String], any Error>).self) { group in
                for (server, entry) in missing.enumerated() {
                    let lookup = entry.lookup
                    for (index, record) in entry.records.enumerated() {
                        group.addTask { await (server, index, onOwnThread { Result { try lookup.txt(record.name) } }) }
                    }
                }
                var answers: [[Int: Result<[String], any Error>]] = Array(repeating: [:], count: missing.count)
                for await (server, index, answer) in group { answers[server][index] = answer }
                return answers
            }
            for server in missing.indices {
                var still: [(name: String, value: String)] = []
                for (index, record) in missing[server].records.enumerated() {
                    switch answers[server][index] {
                    case .success(let values) where values.contains(record.value): continue
                    case .failure(let error): missing[server].failure = "\(error)"
                    default: break
                    }
                    still.append(record)
                }
                missing[server].records = still
            }
            missing.removeAll { $0.records.isEmpty }
            if missing.isEmpty { return }
            guard ContinuousClock.now < deadline else {
                let lines = missing.map { server in
                    let names = Set(server.records.map(\.name)).sorted().joined(separator: ", ")
                    return "the TXT record for \(names) is not visible at \(server.lookup.label) after \(wait)" + (server.failure.map { " (last lookup: \($0))" } ?? "")
                }
                throw ChallengeError(.notPublished, lines.joined(separator: "; ") + "; " + advice)
            }
            try await Task.sleep(for: .seconds(1))
        }
    }
}
