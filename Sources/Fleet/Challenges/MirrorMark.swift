import FleetStore

/// How the node that presents a challenge knows every responder has mirrored it before the CA
/// is told to validate (else a CA that validates at once, as Pebble does, can reach a node whose
/// mirror is a few milliseconds behind and fail the order).
///
/// Each `FleetResponder` session sets its `application_name` to `acme-respond <M>` after a load,
/// `M` being the server's clock (milliseconds) read just before that load: every challenge
/// committed before `M` is in its responders. Before the first load it is `acme-respond 0`. The
/// presenting node reads the clock after its rows are committed (`P`) and waits until every
/// `acme-respond` session of the database shows `M ≥ P` (`pg_stat_activity`: the nodes log in
/// as one role, which sees its own sessions). One clock, the server's, so node clocks do not matter.
enum MirrorMark {
    static let prefix = "acme-respond "

    /// The server's clock in milliseconds.
    static func clock(_ store: FleetStore) throws -> Int {
        guard let value = try store.connection.execute("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint").first?.int(0) else {
            throw FleetStoreError(.corruptRow, "the store \(store.url.redacted) did not tell its time")
        }
        return value
    }

    /// Marks this session as having mirrored everything committed before `mark`.
    static func set(_ store: FleetStore, mark: Int) throws {
        _ = try store.connection.execute("SELECT set_config('application_name', $1, false)", [.text(prefix + String(mark))])
    }

    /// How many responder sessions are connected, and how many of them have not mirrored what was committed before `since`.
    static func responders(_ store: FleetStore, since: Int) throws -> (all: Int, behind: Int) {
        let row = try store.connection.execute("""
            SELECT count(*), count(*) FILTER (WHERE substr(application_name, 14)::bigint < $1) FROM pg_stat_activity
            WHERE datname = current_database() AND application_name ~ '^acme-respond [0-9]{1,15}$'
            """, [.int(since)]).first
        return (row?.int(0) ?? 0, row?.int(1) ?? 0)
    }
}
