import Base
import CertStore
import DNS
import FoundationEssentials
import Glibc
import Testing
@testable import DANE
import Issuance

@Suite("DANE rollover state and settings")
struct DANEStateTests {
    static func record(_ byte: Character, usage: UInt8 = 3) -> TLSARecord {
        TLSARecord(usage: usage, selector: 1, matching: 1, data: String(repeating: byte, count: 64))
    }

    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("current + next: the next becomes current on renewal, the old one retires for 2 × TTL, a replaced next goes at once")
    func transitions() {
        var state = DANEState()
        let (a, b, c, d) = (Self.record("a"), Self.record("b"), Self.record("c"), Self.record("d"))
        let changed1 = state.adopt(live: a, now: Self.t0, holdTime: 600)
        #expect(changed1)
        #expect(state.entries.map(\.role) == [.current] && state.entry(.current)?.record == a)
        let changed2 = state.adopt(live: a, now: Self.t0, holdTime: 600)
        #expect(!changed2, "adopting the same key twice changed the state")

        let changed3 = state.setNext(b, now: Self.t0)
        #expect(changed3)
        let changed4 = state.setNext(b, now: Self.t0)
        #expect(!changed4)
        #expect(state.entry(.next)?.record == b)

        // The renewal used b.
        let later = Self.t0.addingTimeInterval(1000)
        let changed5 = state.adopt(live: b, now: later, holdTime: 600)
        #expect(changed5)
        #expect(state.entry(.current)?.record == b && state.entry(.next) == nil)
        let retiring = state.entries.first { $0.role == .retiring }
        #expect(retiring?.record == a && retiring?.removeAfter == later.addingTimeInterval(600))

        // The prepared key was replaced (file lost): the stale next record is removed at once.
        let changed6 = state.setNext(c, now: later)
        #expect(changed6)
        let changed7 = state.setNext(d, now: later)
        #expect(changed7)
        #expect(state.entries.contains { $0.role == .retiring && $0.record == c && $0.removeAfter == later })
        #expect(state.entry(.next)?.record == d)

        // Nothing rolls any more (reuse_key): no next record.
        let changed8 = state.setNext(nil, now: later)
        #expect(changed8)
        #expect(state.entry(.next) == nil)
    }

    @Test("a live key that went back to a retiring one keeps that record instead of publishing it twice")
    func rollback() {
        var state = DANEState()
        let (a, b) = (Self.record("a"), Self.record("b"))
        _ = state.adopt(live: a, now: Self.t0, holdTime: 10)
        _ = state.setNext(b, now: Self.t0)
        _ = state.adopt(live: b, now: Self.t0, holdTime: 10)
        _ = state.adopt(live: a, now: Self.t0, holdTime: 10)
        #expect(state.entries.filter { $0.record == a }.count == 1 && state.entry(.current)?.record == a)
        #expect(state.entries.first { $0.record == b }?.role == .retiring)
    }

    @Test("the state file round-trips", arguments: [0, 1, 2])
    func roundTrip(step: Int) throws {
        var state = DANEState()
        _ = state.adopt(live: Self.record("a"), now: Self.t0, holdTime: 10)
        if step >= 1 {
            _ = state.setNext(Self.record("b"), now: Self.t0)
            state.entries[1].publishedAt = ["_25._tcp.mx.example.com."]
            state.entries[1].visibleSince = Self.t0
        }
        if step >= 2 { _ = state.adopt(live: Self.record("b"), now: Self.t0, holdTime: 10) }
        let directory = try temporaryDirectory()
        let lineage = Lineage(name: "mx", configDirectory: directory)
        try FS.makeDirectories(lineage.archivePath, mode: 0o755)
        try state.save(lineage)
        #expect(try DANEState.read(lineage) == state)
        #expect(FS.mode(DANEState.path(lineage)).map { $0 & 0o777 } == 0o644)
    }

    @Test("a damaged state file is an error naming it and saying what to do", arguments: [
        ("garbage", "not the JSON acme writes"),
        (#"{"version": 2, "entries": []}"#, "version 2"),
        (#"{"version": 1, "entries": [{"role": "current", "record": {"usage": 1, "selector": 1, "matching": 1, "data": "aa"}, "publishedAt": []}]}"#, "not a SHA-256 TLSA record"),
        (#"{"version": 1, "entries": [{"role": "boss", "record": {"usage": 3, "selector": 1, "matching": 1, "data": "aa"}, "publishedAt": []}]}"#, "not the JSON acme writes"),
        (#"{"version": 1, "entries": [{"role": "retiring", "record": {"usage": 3, "selector": 1, "matching": 1, "data": "\#(String(repeating: "a", count: 64))"}, "publishedAt": []}]}"#, "without its removal time"),
        (#"{"version": 1, "entries": [{"role": "current", "record": {"usage": 3, "selector": 1, "matching": 1, "data": "\#(String(repeating: "a", count: 64))"}, "publishedAt": ["bad..name"]}]}"#, "not a DNS name"),
        // Numbers out of range: a removal time past year 9999 (the rollover's wait would trap), a date before 1970.
        (#"{"version": 1, "entries": [{"role": "retiring", "record": {"usage": 3, "selector": 1, "matching": 1, "data": "\#(String(repeating: "a", count: 64))"}, "publishedAt": [], "removeAfter": 1e300}]}"#, "removeAfter 1e+300 s since 1970"),
        (#"{"version": 1, "entries": [{"role": "current", "record": {"usage": 3, "selector": 1, "matching": 1, "data": "\#(String(repeating: "a", count: 64))"}, "publishedAt": [], "visibleSince": -9e18}]}"#, "visibleSince -9e+18 s since 1970"),
    ])
    func damaged(text: String, reason: String) {
        do {
            _ = try DANEState.decode(text, path: "/le/archive/mx/.acme-dane.json")
            Issue.record("accepted \(text)")
        } catch let error as IssuanceError {
            #expect(error.code == .daneState)
            #expect(error.message.contains("the DANE state /le/archive/mx/.acme-dane.json is damaged") && error.message.contains(reason), "\(error)")
            #expect(error.message.contains("delete the file and run acme renew again"))
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test("more than 16 records or two current ones are refused")
    func bounds() throws {
        func entry(_ role: String, _ byte: Character) -> String {
            #"{"role": "\#(role)", "record": {"usage": 3, "selector": 1, "matching": 1, "data": "\#(String(repeating: byte, count: 64))"}, "publishedAt": []}"#
        }
        let many = #"{"version": 1, "entries": ["# + (0..<17).map { _ in entry("next", "a") }.joined(separator: ",") + "]}"
        #expect(throws: IssuanceError.self) { try DANEState.decode(many, path: "/x") }
        let two = #"{"version": 1, "entries": ["# + entry("current", "a") + "," + entry("current", "b") + "]}"
        #expect(throws: IssuanceError.self) { try DANEState.decode(two, path: "/x") }
    }

    @Test("owner names: _25._tcp first, extra ports, wildcards skipped, no duplicates")
    func owners() {
        #expect(DANESettings.owners(names: ["mx.example.com", "*.example.com", "MX2.example.com."], ports: [465, 25, 465]) == [
            "_25._tcp.mx.example.com.", "_465._tcp.mx.example.com.", "_25._tcp.mx2.example.com.", "_465._tcp.mx2.example.com.",
        ])
    }

    @Test("settings round-trip through the renewal conf; absent or False is off; bad values name the conf")
    func confCodec() throws {
        let settings = DANESettings(usage: 2, owners: ["_25._tcp.mx.example.com."], ttl: 60,
                                    publisher: .hook(command: "/usr/local/bin/tlsa-hook", resolver: "127.0.0.1:5353"))
        let params = settings.merged(into: [("authenticator", "standalone"), ("acme_dane_usage", "3")])
        #expect(params.filter { $0.key == "acme_dane_usage" }.count == 1)
        #expect(try DANESettings(params: params, path: "/x.conf") == settings)
        #expect(try DANESettings(params: [("acme_dane", "False")], path: "/x.conf") == nil)
        #expect(try DANESettings(params: [], path: "/x.conf") == nil)
        for (key, value, says) in [("acme_dane_ttl", "0", "acme_dane_ttl"), ("acme_dane_usage", "1", "acme_dane_usage 1"),
                                   ("acme_dane_owners", "mx.example.com.,", "is not a TLSA owner name")] {
            let bad = params.filter { $0.key != key } + [(key, value)]
            #expect {
                _ = try DANESettings(params: bad, path: "/x.conf")
            } throws: { error in
                let error = error as? IssuanceError
                return error?.code == .invalidRenewalConf && error?.message.contains("renewal conf /x.conf") == true && error?.message.contains(says) == true
            }
        }
    }

    func temporaryDirectory() throws -> String {
        var template = Array("/tmp/acme-dane-state-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw BaseError(.unwritable, "mkdtemp failed") }
        return String(cString: made)
    }
}
