/// The fleet's ARI state (RFC 9773): one `acme_ari` row per lineage, written by the node that
/// asked the CA about the lineage's current certificate, read by every node before asking.
/// Dates are seconds since 1970; a NULL or infinite date reads as nil (the caller ignores such a row).
public struct StoredRenewalInfo {
    public struct Row: Sendable, Equatable {
        public var certificateID: String
        public var windowStart: Int?
        public var windowEnd: Int?
        public var explanationURL: String?
        public var nextCheck: Int?

        public init(certificateID: String, windowStart: Int?, windowEnd: Int?, explanationURL: String?, nextCheck: Int?) {
            self.certificateID = certificateID
            self.windowStart = windowStart
            self.windowEnd = windowEnd
            self.explanationURL = explanationURL
            self.nextCheck = nextCheck
        }
    }

    /// Longest certificate id and explanation URL read or written; a longer value is not acme's.
    public static let maxCertificateID = 1024
    public static let maxExplanationURL = 2048

    let connection: PostgresConnection

    public init(_ store: FleetStore) { connection = store.connection }

    /// The lineage's row, or nil. Throws `corruptRow` for a certificate id or URL longer than acme writes.
    public func row(lineage: String) throws -> Row? {
        // An infinite timestamp has no epoch that fits a bigint: it reads as NULL.
        guard let row = try connection.execute("""
            SELECT left(cert_id, $2),
                CASE WHEN isfinite(window_start) THEN floor(extract(epoch FROM window_start))::bigint END,
                CASE WHEN isfinite(window_end) THEN floor(extract(epoch FROM window_end))::bigint END,
                left(explanation_url, $3),
                CASE WHEN isfinite(next_check) THEN floor(extract(epoch FROM next_check))::bigint END
            FROM acme_ari WHERE lineage = $1
            """, [.text(lineage), .int(Self.maxCertificateID + 1), .int(Self.maxExplanationURL + 1)]).first else { return nil }
        let certificateID = row.string(0) ?? ""
        let url = row.string(3)
        guard (1...Self.maxCertificateID).contains(certificateID.utf8.count), (url?.utf8.count ?? 0) <= Self.maxExplanationURL else {
            throw FleetStoreError(.corruptRow, "the store \(connection.url.redacted) holds an acme_ari row for \(lineage) whose certificate id or explanation URL is empty or too long; acme replaces it with the CA's next answer")
        }
        return Row(certificateID: certificateID, windowStart: row.int(1), windowEnd: row.int(2), explanationURL: url, nextCheck: row.int(4))
    }

    /// Writes (replaces) the lineage's row; nothing when the store does not hold the lineage.
    public func put(lineage: String, _ row: Row) throws {
        guard (1...Self.maxCertificateID).contains(row.certificateID.utf8.count),
              (row.explanationURL?.utf8.count ?? 0) <= Self.maxExplanationURL else {
            throw FleetStoreError(.corruptRow, "renewal information for \(lineage) with a certificate id or explanation URL out of bounds is not stored")
        }
        func time(_ seconds: Int?) -> SQLValue { seconds.map { .int($0) } ?? .null }
        try connection.execute("""
            INSERT INTO acme_ari (lineage, cert_id, window_start, window_end, explanation_url, next_check)
            SELECT $1, $2, to_timestamp($3::bigint), to_timestamp($4::bigint), $5, to_timestamp($6::bigint)
            WHERE EXISTS (SELECT 1 FROM acme_lineages WHERE name = $1)
            ON CONFLICT (lineage) DO UPDATE SET cert_id = excluded.cert_id, window_start = excluded.window_start,
                window_end = excluded.window_end, explanation_url = excluded.explanation_url,
                next_check = excluded.next_check, updated_at = now()
            """, [.text(lineage), .text(row.certificateID), time(row.windowStart), time(row.windowEnd),
                  row.explanationURL.map { .text($0) } ?? .null, time(row.nextCheck)])
    }
}
