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
            for index in missing.indices {
                let lookup = missing[index].lookup
                missing[index].records = missing[index].records.filter { record in
                    do {
                        return try !lookup.txt(record.name).contains(record.value)
                    } catch {
                        missing[index].failure = "\(error)"
                        return true
                    }
                }
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
