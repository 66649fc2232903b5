import Base
import FoundationEssentials
import Glibc
import Renewal
import Testing

/// `<config-dir>/.acme-ari.json` read back as untrusted input: a date out of range makes the file
/// unreadable (started afresh, said once), never a window or a next check that cannot be.
@Suite("renewal: the ARI state file's numbers are range-checked")
struct StateFileBoundsTests {
    func directory() throws -> String {
        var template = Array("/tmp/acme-ari-bounds-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw BaseError(.unwritable, "mkdtemp failed") }
        return String(cString: made)
    }

    func entry(start: String) -> String {
        #"{"m": {"serial": "01", "start": \#(start), "end": 1800086400, "chosen": 1800043200, "nextCheck": 1800003600}}"#
    }

    @Test("a date out of range drops the file with one note; it is rewritten, so the next run says nothing", arguments: ["1e300", "-1e300", "-5"])
    func outOfRange(start: String) throws {
        let dir = try directory()
        try FS.writeAtomically(dir + "/.acme-ari.json", entry(start: start), mode: 0o644)
        let state = RenewalInfoState(configDirectory: dir)
        #expect(state.entry(lineage: "m", serial: "01") == nil)
        #expect(state.note?.contains("holds a value out of range (m: start") == true, "\(state.note ?? "no note")")
        try state.save()
        let again = RenewalInfoState(configDirectory: dir)
        #expect(again.note == nil && again.entry(lineage: "m", serial: "01") == nil)
    }

    @Test("dates in range are read as they are")
    func inRange() throws {
        let dir = try directory()
        try FS.writeAtomically(dir + "/.acme-ari.json", entry(start: "1800000000"), mode: 0o644)
        let state = RenewalInfoState(configDirectory: dir)
        #expect(state.note == nil)
        #expect(state.entry(lineage: "m", serial: "01")?.start == Date(timeIntervalSince1970: 1_800_000_000))
    }
}
