import ACMECrypto
import Base
import CertStore
import FleetStore
import Foundation
import TestFixtures
import Testing

/// How an account key moves between nodes through the store: a rolled key (same account id)
/// replaces the old one at sync; an ordinary publish never puts an older key back; a key rolled
/// here and not yet published survives a sync.
@Suite("fleet store: account keys between nodes", .integration)
struct AccountSyncTests {
    let server = "https://ca.test:14000/dir"
    let id = "0123456789abcdef0123456789abcdef"

    func keyPath(_ configDirectory: String) -> String { configDirectory + "/accounts/ca.test:14000/dir/\(id)/private_key.json" }

    /// Node `configDirectory` rolls its key locally (what AccountService.rollKey leaves on disk).
    func roll(_ configDirectory: String) throws -> String {
        let accounts = AccountStore(configDirectory: configDirectory)
        var account = try #require(try accounts.accounts(server: server).first)
        account.privateKeyJWK = try PrivateKey.generate(.ecdsa(.p256)).privateJWK()
        try accounts.save(account, server: server)
        return try String(contentsOfFile: keyPath(configDirectory), encoding: .utf8)
    }

    @Test("a rolled key replaces the other node's at sync (0400, no temporary left); a plain publish does not overwrite the store; an unpublished mark keeps the local key")
    func rolledKeyMoves() throws {
        let postgres = try PostgresServer()
        let url = try postgres.createDatabase("fleet")
        let base = try Layouts.temporaryDirectory("account-sync")
        let keyFile = try ImportExportTests.keyFile(base)
        let node1 = base + "/node1", node2 = base + "/node2"
        try Layouts.make(node1, lineages: 0, versions: 1)
        try FileManager.default.createDirectory(atPath: node2, withIntermediateDirectories: false)
        let store = try FleetStore.open(url: url, keyFile: keyFile)
        #expect(try store.publishAccounts(from: node1) == 1)
        #expect(try store.materializeAccounts(into: node2) == 1)
        let old = try String(contentsOfFile: keyPath(node2), encoding: .utf8)
        #expect(try store.materializeAccounts(into: node2) == 0, "nothing changed, nothing written")

        let new = try roll(node1)
        #expect(new != old)
        // A renewer's publish (not under the account lock) leaves the store's key.
        try store.publishAccounts(from: node1)
        #expect(try store.materializeAccounts(into: node2) == 0)
        #expect(try String(contentsOfFile: keyPath(node2), encoding: .utf8) == old)

        // The rollover's publish replaces it; node 2 takes it at its next sync.
        try store.publishAccounts(from: node1, replacing: true)
        #expect(try store.materializeAccounts(into: node2) == 1)
        #expect(try String(contentsOfFile: keyPath(node2), encoding: .utf8) == new)
        #expect(FS.mode(keyPath(node2)) == 0o400)
        let directory = (keyPath(node2) as NSString).deletingLastPathComponent
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["meta.json", "private_key.json", "regr.json"])

        // Node 2 rolled (the CA took it) but did not publish: the sync keeps node 2's key.
        #expect(FileManager.default.createFile(atPath: directory + "/" + FleetStore.unpublishedKeyMarker, contents: Data()), "cannot write the mark in \(directory)")
        let mine = try roll(node2)
        #expect(try store.materializeAccounts(into: node2) == 0)
        #expect(try String(contentsOfFile: keyPath(node2), encoding: .utf8) == mine)
    }
}
