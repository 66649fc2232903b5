import ACME
import ACMECrypto
import Base
import CertStore
import Foundation
import Testing
@testable import Issuance

@Suite("lineage decisions")
struct IssuerTests {
    func request(_ names: [String], _ fixture: ConfigFixture, keyType: KeyType = .ecdsa(.p256), certName: String? = nil) -> IssueRequest {
        IssueRequest(names: names, server: "https://ca.invalid/dir", configDirectory: fixture.directory, certName: certName,
                     keyType: keyType, toolVersion: "test")
    }

    @Test("a valid certificate for exactly these names is not due: decided without contacting the CA")
    func notDue() async throws {
        let fixture = try ConfigFixture("not-due")
        defer { fixture.remove() }
        try fixture.lineage("mail.example.test", names: ["mail.example.test", "smtp.example.test"])
        let ca = UnreachableCA()
        let result = try await Issuer(client: ca.client, progress: { _ in }).issue(request(["smtp.example.test", "mail.example.test"], fixture))
        guard case .notDue = result.outcome else { Issue.record("expected not due, got \(result.outcome)"); return }
        #expect(result.lineageName == "mail.example.test")
        #expect(ca.requests.withLock { $0 } == 0)
    }

    @Test("of an ECDSA and an RSA lineage for the same names, the one of the requested key family is chosen")
    func keyFamily() async throws {
        let fixture = try ConfigFixture("family")
        defer { fixture.remove() }
        try fixture.lineage("mail.example.test", names: ["mail.example.test"])
        try fixture.lineage("mail.example.test-rsa", names: ["mail.example.test"], type: .rsa(bits: 2048))
        let issuer = Issuer(client: UnreachableCA().client, progress: { _ in })
        #expect(try await issuer.issue(request(["mail.example.test"], fixture, keyType: .rsa(bits: 2048))).lineageName == "mail.example.test-rsa")
        #expect(try await issuer.issue(request(["mail.example.test"], fixture)).lineageName == "mail.example.test")
    }

    @Test("only a lineage of the other key family holds the names: a usage error, not a silent key change")
    func otherFamily() async throws {
        let fixture = try ConfigFixture("other-family")
        defer { fixture.remove() }
        try fixture.lineage("mail.example.test", names: ["mail.example.test"], type: .rsa(bits: 2048))
        let error = await #expect(throws: IssuanceError.self) {
            try await Issuer(client: UnreachableCA().client, progress: { _ in }).issue(request(["mail.example.test"], fixture))
        }
        #expect(error?.code == .keyTypeConflict)
        #expect(error?.category == .usage)
    }

    @Test("an unreadable certificate in the lineage these names would use fails clearly instead of forking name-0001")
    func unreadableLineage() async throws {
        let fixture = try ConfigFixture("unreadable")
        defer { fixture.remove() }
        let lineage = try fixture.lineage("mail.example.test", names: ["mail.example.test"])
        // Every archived version is damaged: repair cannot recover, reading must fail.
        for version in try fixture.store.archiveVersions(lineage) {
            try "garbage".write(toFile: "\(lineage.archivePath)/cert\(version).pem", atomically: true, encoding: .utf8)
        }
        let ca = UnreachableCA()
        let error = await #expect(throws: IssuanceError.self) {
            try await Issuer(client: ca.client, progress: { _ in }).issue(request(["mail.example.test"], fixture))
        }
        #expect(error?.code == .unreadableLineage)
        #expect(error?.message.contains(lineage.certPath) == true)
        #expect(!FileManager.default.fileExists(atPath: fixture.directory + "/renewal/mail.example.test-0001.conf"))
        #expect(ca.requests.withLock { $0 } == 0)
    }

    @Test("live links an interrupted run left disagreeing are repaired before the lineage is judged")
    func repairedFirst() async throws {
        let fixture = try ConfigFixture("repair")
        defer { fixture.remove() }
        let lineage = try fixture.lineage("mail.example.test", names: ["mail.example.test"])
        unlink(lineage.certPath)
        symlink("../../archive/mail.example.test/cert7.pem", lineage.certPath)
        let result = try await Issuer(client: UnreachableCA().client, progress: { _ in }).issue(request(["mail.example.test"], fixture))
        guard case .notDue = result.outcome else { Issue.record("expected not due after repair, got \(result.outcome)"); return }
        #expect(fixture.store.liveVersions(lineage).values.allSatisfy { $0 == 1 })
    }

    @Test("wildcards without DNS-01 are refused before anything else")
    func wildcard() async throws {
        let fixture = try ConfigFixture("wildcard")
        defer { fixture.remove() }
        let error = await #expect(throws: IssuanceError.self) {
            try await Issuer(client: UnreachableCA().client, progress: { _ in }).issue(request(["*.example.test"], fixture))
        }
        #expect(error?.code == .wildcardNeedsDNS)
    }
}

@Suite("domain names and flags")
struct NameTests {
    @Test("names are lower-cased, trailing dot dropped, duplicates and commas handled")
    func normalize() throws {
        #expect(try DomainName.normalize(all: ["Mail.Example.TEST.", "smtp.example.test, mail.example.test", "*.example.test"])
                == ["mail.example.test", "smtp.example.test", "*.example.test"])
    }

    @Test("invalid names are usage errors naming the value", arguments: ["", "localhost", "a..b.test", "-a.example.test", "*.*.example.test",
                                                                          "mail.*.test", "192.168.1.1", String(repeating: "a", count: 64) + ".test"])
    func invalid(name: String) {
        let error = #expect(throws: IssuanceError.self) { try DomainName.normalize(all: [name]) }
        #expect(error?.code == .invalidDomain)
        #expect(error?.category == .usage)
    }

    @Test("revocation reasons: names, certbot spellings, codes")
    func reasons() throws {
        #expect(try RevocationReason(flag: "key-compromise").rawValue == 1)
        #expect(try RevocationReason(flag: "KeyCompromise") == .keyCompromise)
        #expect(try RevocationReason(flag: "cessation-of-operation").rawValue == 5)
        #expect((#expect(throws: IssuanceError.self) { try RevocationReason(flag: "privilegeWithdrawn") })?.category == .usage)
    }

    @Test("profile and registration flags")
    func flags() throws {
        #expect(try ProfileChoice(preferred: nil, required: "tlsserver") == .required("tlsserver"))
        #expect(try ProfileChoice(preferred: nil, required: nil) == nil)
        #expect((#expect(throws: IssuanceError.self) { try ProfileChoice(preferred: "a", required: "b") })?.code == .invalidProfile)
        #expect((#expect(throws: IssuanceError.self) {
            try RegistrationOptions(email: "admin@example.test", agreeTOS: true, eabKid: "kid", eabHmacKey: nil, accountKeyType: .rsa(bits: 2048))
        })?.code == .invalidRegistration)
        #expect((#expect(throws: IssuanceError.self) {
            try RegistrationOptions(email: "not-an-address", agreeTOS: true, eabKid: nil, eabHmacKey: nil, accountKeyType: .rsa(bits: 2048))
        })?.code == .invalidRegistration)
    }

    @Test("registration and revocation errors name the setting, not a command-line flag (the CLI adds the flag)")
    func settingsNotFlags() {
        let email = #expect(throws: IssuanceError.self) {
            try RegistrationOptions(email: "not-an-address", agreeTOS: true, eabKid: nil, eabHmacKey: nil, accountKeyType: .rsa(bits: 2048))
        }
        #expect(email?.message == "the account's contact address not-an-address is not a mail address")
        let eab = #expect(throws: IssuanceError.self) {
            try RegistrationOptions(email: nil, agreeTOS: true, eabKid: "kid", eabHmacKey: nil, accountKeyType: .rsa(bits: 2048))
        }
        #expect(eab?.message == "the External Account Binding key ID and the External Account Binding HMAC key go together; give both or neither")
        let reason = #expect(throws: IssuanceError.self) { try RevocationReason(flag: "nope") }
        #expect(reason?.message.hasPrefix("the revocation reason nope is not one of ") == true && reason?.message.contains("--") == false)
    }
}
