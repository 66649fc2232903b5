import Base
import Foundation
import Synchronization
import TestFixtures
import Testing

/// Every parser of untrusted bytes, fed thousands of seeded random and mutated inputs.
///
/// Each parser runs in a child process of its own (an exit test): a crash or hang there fails
/// that parser's test with the child's report (case, seed, saved input) while the other parsers
/// still run, and timings and memory peaks are the parser's own. FUZZ_IN_PROCESS=1 runs them in
/// the test process instead, one at a time (for a debugger). See Docs/FUZZING.md.
@Suite("Fuzzing", .integration)
struct FuzzTests {
    static let inProcess = Mutex(())
    static let slots = Slots(FuzzConfig.current.jobs)

    static let targets: [String: FuzzTarget] = Dictionary(uniqueKeysWithValues: [
        CryptoTargets.certificatePEM, CryptoTargets.certificateDER, CryptoTargets.certificateSummary,
        CryptoTargets.privateKeyPEM, CryptoTargets.privateKeyJWK,
        StoreTargets.renewalConfig, StoreTargets.renewalParams, StoreTargets.accountStore,
        ProvisionTargets.traefik, ProvisionTargets.caddy,
        ACMETargets.problem, ACMETargets.resources, ACMETargets.linkHeaders, ACMETargets.retryAfter,
        TextTargets.domainName, TextTargets.endpoint, TextTargets.misc, TextTargets.dnsTXT,
        DANETargets.state, DANETargets.settings,
        ResponderTarget.target, MailDialogTarget.target,
    ].map { ($0.name, $0) })

    /// Runs one target in a child process (or here, with FUZZ_IN_PROCESS=1) and shows its report.
    static func fuzz(_ name: String) async {
        if FuzzConfig.current.inProcess {
            // Targets loop over inputs and some wait on loopback peers: on a thread of their own.
            await onOwnThread { inProcess.withLock { _ in Fuzz.run(targets[name]!) } }
            return
        }
        // Swift Testing starts every test at once; the children take turns, FUZZ_JOBS at a time
        // (default: one per core), so that a parser's timings are its own.
        await Self.slots.acquire()
        await #expect(processExitsWith: .success) { [name = name as String] in
            await onOwnThread { Fuzz.run(FuzzTests.targets[name]!) }
        }
        await Self.slots.release()
        // The child's report: one summary line, notes, and on a crash or hang the case, its seed
        // and where its input was saved (rerun the case in process for the backtrace).
        let log = Log.path(target: name, seed: FuzzConfig.current.seed)
        let report = (try? String(contentsOfFile: log, encoding: .utf8)) ?? "(no report in \(log))"
        print(report, terminator: report.hasSuffix("\n") ? "" : "\n")
    }

    // PEM, DER and JWK (ACMECrypto)
    @Test("Certificate(pem:) and Certificate.chain(pem:)") func certificatePEM() async { await Self.fuzz("certificatePEM") }
    @Test("Certificate(der:)") func certificateDER() async { await Self.fuzz("certificateDER") }
    @Test("CertificateSummary(der:) and (pem:)") func certificateSummary() async { await Self.fuzz("certificateSummary") }
    @Test("PrivateKey(pem:)") func privateKeyPEM() async { await Self.fuzz("privateKeyPEM") }
    @Test("PrivateKey(jwk:)") func privateKeyJWK() async { await Self.fuzz("privateKeyJWK") }

    // certbot's files (CertStore, Issuance)
    @Test("RenewalConfig.parse") func renewalConf() async { await Self.fuzz("renewalConf") }
    @Test("RenewalParams(decoding:path:defaultServer:)") func renewalParams() async { await Self.fuzz("renewalParams") }
    @Test("AccountStore.accounts(server:)") func accountStore() async { await Self.fuzz("accountStore") }

    // Other ACME clients' storage (Provision)
    @Test("TraefikStore.entries (acme.json)") func traefik() async { await Self.fuzz("traefik") }
    @Test("CaddyStore.entries") func caddy() async { await Self.fuzz("caddy") }

    // What a CA sends (ACME, ACMEHTTP)
    @Test("Problem.parse") func problem() async { await Self.fuzz("problem") }
    @Test("Directory, Order, Authorization, Challenge, Account decoding") func resources() async { await Self.fuzz("resources") }
    @Test("HTTPResponse.links and header lookup") func linkHeaders() async { await Self.fuzz("linkHeaders") }
    @Test("HTTPResponse.retryAfter (HTTP-dates)") func retryAfter() async { await Self.fuzz("retryAfter") }

    // Names, URLs, DNS, flag values
    @Test("DomainName.normalize") func domainName() async { await Self.fuzz("domainName") }
    @Test("Endpoint(parsing:)") func endpoint() async { await Self.fuzz("endpoint") }
    @Test("small parsers: intervals, versions, main.cf, dates, resolvers") func smallParsers() async { await Self.fuzz("smallParsers") }
    @Test("TXTLookup.parseTXT") func dnsTXT() async { await Self.fuzz("dnsTXT") }
    @Test("DANEState.decode (the rollover state file)") func daneState() async { await Self.fuzz("daneState") }
    @Test("DANESettings from a renewal conf") func daneSettings() async { await Self.fuzz("daneSettings") }

    // Peers on the network (Challenges, Check)
    @Test("HTTP-01 responder request parsing (loopback)") func http01() async { await Self.fuzz("http01") }
    @Test("acme check's SMTP/IMAP/POP3 replies (loopback)") func mailDialog() async { await Self.fuzz("mailDialog") }
}

/// At most `count` holders at a time; the others wait in order.
actor Slots {
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(_ count: Int) { free = max(1, count) }

    func acquire() async {
        if free > 0 { free -= 1; return }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
    }
}
