import ACME
import ACMECrypto
import Base
import CertStore
import Foundation
import Testing
@testable import Issuance

@Suite("account resolution")
struct AccountServiceTests {
    func store(_ fixture: ConfigFixture, created: Date) throws -> StoredAccount {
        let key = try PrivateKey.generate(.ecdsa(.p256))
        let account = StoredAccount(id: try AccountService.accountID(key), privateKeyJWK: try key.privateJWK(),
                                    uri: "https://ca.invalid/acct/\(created.timeIntervalSince1970)", creationDate: created, creationHost: "test")
        try AccountStore(configDirectory: fixture.directory).save(account, server: "https://ca.invalid/dir")
        return account
    }

    @Test("the oldest stored account is used, or the one a renewal conf names; no CA request")
    func existing() async throws {
        let fixture = try ConfigFixture("accounts")
        defer { fixture.remove() }
        let older = try store(fixture, created: Date(timeIntervalSince1970: 1_700_000_000))
        let newer = try store(fixture, created: Date(timeIntervalSince1970: 1_800_000_000))
        let ca = UnreachableCA()
        let service = AccountService(configDirectory: fixture.directory, client: ca.client, server: "https://ca.invalid/dir", progress: { _ in })
        #expect(try service.existing()?.stored.id == older.id)
        #expect(try service.existing(id: newer.id)?.stored.id == newer.id)
        #expect(try await service.resolve(RegistrationOptions()).stored.id == older.id)
        #expect(ca.requests.withLock { $0 } == 0)
    }

    @Test("a corrupt account file is an error naming it, never skipped for a second registration")
    func corrupt() async throws {
        let fixture = try ConfigFixture("corrupt-account")
        defer { fixture.remove() }
        let account = try store(fixture, created: Date())
        let directory = AccountStore(configDirectory: fixture.directory).serverDirectory(for: "https://ca.invalid/dir") + "/" + account.id
        chmod(directory + "/regr.json", 0o600)
        try "{ not json".write(toFile: directory + "/regr.json", atomically: true, encoding: .utf8)
        let ca = UnreachableCA()
        let service = AccountService(configDirectory: fixture.directory, client: ca.client, server: "https://ca.invalid/dir", progress: { _ in })
        let error = await #expect(throws: CertStoreError.self) { try await service.resolve(RegistrationOptions(agreeTOS: true)) }
        #expect(error?.code == .corruptAccount)
        #expect(error?.message.contains(directory) == true)
        #expect(ca.requests.withLock { $0 } == 0, "a corrupt account must not lead to registering another")
    }
}
